import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/load.ts';
import { createSpanTable } from '../../../src/lake/factory.ts';
import type { SpanTable } from '../../../src/lake/table.ts';
import { Materializer } from '../../../src/materialize/materializer.ts';
import { createSpool } from '../../../src/spool/factory.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { makeTrace, toProtobuf } from '../../support/traces.ts';

const request = (n: number) => toProtobuf([{ service: 'svc', scope: { name: 's' }, spans: makeTrace({ n, startMs: Date.now(), durationMs: 10 }) }]);

test('a commit that landed but reported failure (outcome unknown) is not committed again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'materializer-'));
  const config = parseConfig(`spool: { local: { dir: ${join(dir, 'spool')} } }\nstorage: { catalog: { uri: ${join(dir, 'catalog.db')}, warehouse: ${join(dir, 'warehouse')} } }`, 'test', {});
  const deps = { metrics: new Metrics(), logger: silentLogger() };
  const { table, close } = await createSpanTable(config.storage, deps);
  const spool = createSpool(config.spool, deps);
  await spool.start();
  // The table commits, then the answer is lost once: the catalog's "commit state unknown".
  let failNext = true;
  const lossy: SpanTable = Object.assign(Object.create(table) as SpanTable, {
    append: async (...args: Parameters<SpanTable['append']>) => {
      const ref = await table.append(...args);
      if (failNext) {
        failNext = false;
        throw new Error('connection reset after commit');
      }
      return ref;
    },
  });
  const m = new Materializer(spool, lossy, { commitIntervalMs: 3_600_000, maxCommitBytes: 8 << 20 }, deps);
  try {
    await m.start();
    await spool.append([request(4)]);
    await assert.rejects(m.commitOnce(), /connection reset/);
    await spool.append([request(3)]);
    await m.drain();
    const { files } = await table.changesSince(0);
    assert.equal(files.reduce((n, f) => n + f.recordCount, 0), 7, 'the first batch is in the table once, the second once');
    assert.equal(spool.pendingBytes(), 0);
  } finally {
    await m.shutdown();
    await spool.shutdown();
    await close();
  }
});

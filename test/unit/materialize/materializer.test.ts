import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig } from '../../../src/config/load.ts';
import { createSpanTable } from '../../../src/lake/factory.ts';
import type { SpanTable } from '../../../src/lake/table.ts';
import { Materializer } from '../../../src/materialize/materializer.ts';
import { createSpool } from '../../../src/spool/factory.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { makeTrace, toProtobuf } from '../../support/traces.ts';
import { BAD_UTF8, PLACEHOLDER, withInvalidUtf8 } from '../../fixtures/otlp/invalid-utf8.ts';

const request = (n: number) => toProtobuf([{ service: 'svc', scope: { name: 's' }, spans: makeTrace({ n, startMs: Date.now(), durationMs: 10 }) }]);

/** A local spool (started) and an embedded-catalog span table in a fresh directory. */
async function localTableAndSpool(deps: { metrics: Metrics; logger: ReturnType<typeof silentLogger> }) {
  const dir = mkdtempSync(join(tmpdir(), 'materializer-'));
  const config = parseConfig(`spool: { local: { dir: ${join(dir, 'spool')} } }\nstorage: { catalog: { uri: ${join(dir, 'catalog.db')}, warehouse: ${join(dir, 'warehouse')} } }`, 'test', {});
  const { table, close } = await createSpanTable(config.storage, deps);
  const spool = await createSpool(config.spool, deps);
  await spool.start();
  return { table, spool, close };
}

test('a commit that landed but reported failure (outcome unknown) is not committed again', async () => {
  const deps = { metrics: new Metrics(), logger: silentLogger() };
  const { table, spool, close } = await localTableAndSpool(deps);
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

test('a spool record with invalid UTF-8 (e.g. written to Kafka by a Collector) is counted and left out, never rewritten', async () => {
  const metrics = new Metrics();
  const deps = { metrics, logger: silentLogger() };
  const { table, spool, close } = await localTableAndSpool(deps);
  const m = new Materializer(spool, table, { commitIntervalMs: 3_600_000, maxCommitBytes: 8 << 20 }, deps);
  try {
    await m.start();
    const spans = makeTrace({ n: 2, startMs: Date.now(), durationMs: 10 });
    spans[1]!.attributes.push(['note', { s: PLACEHOLDER }]);
    const bad = withInvalidUtf8(toProtobuf([{ service: 'svc', scope: { name: 's' }, spans }]), BAD_UTF8.lone);
    // The spool takes bytes as they are: only the receivers validate.
    await spool.append([request(3), bad, request(2)]);
    await m.drain();
    const { files } = await table.changesSince(0);
    assert.equal(files.reduce((n, f) => n + f.recordCount, 0), 5, 'the two good records, none of the bad one');
    assert.equal((await metrics.rejectedRecords.get()).values[0]!.value, 1);
    assert.equal(spool.pendingBytes(), 0, 'the position moved past the bad record');
  } finally {
    await m.shutdown();
    await spool.shutdown();
    await close();
  }
});

test('the spool records read for a commit can be collected while its files are written and committed', async () => {
  const deps = { metrics: new Metrics(), logger: silentLogger() };
  const { table, spool, close } = await localTableAndSpool(deps);
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Weak references only: the read chunks the payloads are slices of (a spool read holds ~max_commit_mib of them).
  const chunks: WeakRef<ArrayBufferLike>[] = [];
  // An own property over the method (the local spool's private fields rule out a wrapper object).
  const read = spool.read.bind(spool);
  spool.read = async (...args) => {
    const records = await read(...args);
    for (const r of records) chunks.push(new WeakRef(r.payload.buffer));
    return records;
  };
  let heldDuringAppend = -1;
  const observed: SpanTable = Object.assign(Object.create(table) as SpanTable, {
    append: async (...args: Parameters<SpanTable['append']>) => {
      // Let the caller's frames settle into their suspended state, then collect.
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      heldDuringAppend = chunks.filter((c) => c.deref() !== undefined).length;
      return table.append(...args);
    },
  });
  const m = new Materializer(spool, observed, { commitIntervalMs: 3_600_000, maxCommitBytes: 8 << 20 }, deps);
  try {
    await m.start();
    // Records past Buffer's pool (reads under 32 KiB are slices of a pool slab that stays reachable).
    await spool.append([request(300), request(300)]);
    assert.equal(await m.commitOnce(), true);
    assert.equal(chunks.length, 2, 'the commit read both records');
    assert.equal(heldDuringAppend, 0, 'no read chunk is still reachable while the batch is appended');
    const { files } = await table.changesSince(0);
    assert.equal(files.reduce((n, f) => n + f.recordCount, 0), 600);
  } finally {
    await m.shutdown();
    await spool.shutdown();
    await close();
  }
});

test('when no full batch waits, the next commit comes a commit interval after the last one started, not after it ended', async (t) => {
  const deps = { metrics: new Metrics(), logger: silentLogger() };
  const { table, spool, close } = await localTableAndSpool(deps);
  const one = request(2);
  // Three records; a commit reads one (two would pass the budget), so two wait after the first
  // commit (a full batch: at once) and one after the second (not full: the interval).
  await spool.append([one, request(2), request(2)]);
  // Each commit takes 700 ms of the (mocked) clock.
  const slow: SpanTable = Object.assign(Object.create(table) as SpanTable, {
    append: async (...args: Parameters<SpanTable['append']>) => {
      const ref = await table.append(...args);
      t.mock.timers.tick(700);
      return ref;
    },
  });
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  // Only the materializer sets timers here: each call is its next commit being scheduled.
  const scheduled = t.mock.method(globalThis, 'setTimeout');
  const nextDelay = async (): Promise<unknown> => {
    const n = scheduled.mock.callCount();
    t.mock.timers.tick(0);
    while (scheduled.mock.callCount() === n) await new Promise((resolve) => setImmediate(resolve));
    return scheduled.mock.calls[n]!.arguments[1];
  };
  const m = new Materializer(spool, slow, { commitIntervalMs: 1000, maxCommitBytes: Math.floor(one.byteLength * 1.5) }, deps);
  try {
    await m.start();
    assert.equal(scheduled.mock.calls[0]!.arguments[1], 0, 'the first commit at once');
    assert.equal(await nextDelay(), 0, 'two records waiting after the first commit, a full batch: at once');
    // The second commit started at +700 ms and ended at +1400: the next is due at +1700.
    assert.equal(await nextDelay(), 300);
    const { files } = await table.changesSince(0);
    assert.equal(files.reduce((n, f) => n + f.recordCount, 0), 4, 'two commits so far');
  } finally {
    // Its drain commits the third record, which ticks the mocked clock.
    await m.shutdown();
    t.mock.timers.reset();
    await spool.shutdown();
    await close();
  }
});

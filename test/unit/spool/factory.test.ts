import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { createSpool } from '../../../src/spool/factory.ts';
import { LocalSpool } from '../../../src/spool/local/local-spool.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

it('builds a working local spool from the parsed config', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tailsampler-factory-'));
  try {
    const config = configSchema.parse({ spool: { local: { dir } } });
    const spool = await createSpool(config.spool, { metrics: new Metrics(), logger: silentLogger() });
    assert.ok(spool instanceof LocalSpool);
    await spool.start();
    await spool.append([Buffer.from('x')]);
    assert.equal((await spool.read(null, 10))[0]!.payload.toString(), 'x');
    await spool.shutdown();
    assert.ok((await readdir(dir)).some((f) => f.endsWith('.seg')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

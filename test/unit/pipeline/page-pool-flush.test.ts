import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPagePoolFlush, memoryReducingCollector, shouldFlush } from '../../../src/pipeline/page-pool-flush.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

const MiB = 2 ** 20;

test('flushes only once RSS grew by the threshold since the last flush', () => {
  assert.equal(shouldFlush(100 * MiB, 100 * MiB, 16 * MiB), false);
  assert.equal(shouldFlush(115 * MiB, 100 * MiB, 16 * MiB), false);
  assert.equal(shouldFlush(116 * MiB, 100 * MiB, 16 * MiB), true);
  assert.equal(shouldFlush(90 * MiB, 100 * MiB, 16 * MiB), false, 'RSS that shrank is no reason');
});

test("V8's collector is reachable without --expose-gc and runs a memory-reducing collection", () => {
  const collect = memoryReducingCollector();
  assert.ok(collect, 'no gc function');
  // A large object let go of is gone after it: the heap's used size drops by at least its size.
  const holder: { junk?: number[] } = { junk: Array.from({ length: 1 << 20 }, (_, i) => i + 0.5) };
  const before = process.memoryUsage().heapUsed;
  assert.equal(holder.junk!.length, 1 << 20);
  delete holder.junk;
  collect();
  assert.ok(before - process.memoryUsage().heapUsed > 4 * MiB, 'the collection freed the unreferenced array');
});

test('the timer collects when RSS grew, not while it stays, records each collection, and stops on shutdown', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const metrics = new Metrics();
  let rss = 100 * MiB;
  let calls = 0;
  const flush = createPagePoolFlush(
    { metrics, logger: silentLogger() },
    { intervalMs: 1000, growthBytes: 16 * MiB, rss: () => rss, collect: () => { calls++; rss -= 10 * MiB; } },
  );
  await flush.start();
  t.mock.timers.tick(5000);
  assert.equal(calls, 0, 'no growth, no collection');
  rss += 20 * MiB;
  t.mock.timers.tick(999);
  assert.equal(calls, 0, 'not before the interval');
  t.mock.timers.tick(5000);
  assert.equal(calls, 1, 'one collection for one growth: RSS after it is the new base');
  const histogram = await metrics.registry.getSingleMetricAsString('tailsampler_memory_reducing_gc_duration_seconds');
  assert.match(histogram, /tailsampler_memory_reducing_gc_duration_seconds_count 1/);
  await flush.shutdown();
  rss += 40 * MiB;
  t.mock.timers.tick(5000);
  assert.equal(calls, 1, 'nothing after shutdown');
});

test('without a collector it starts, warns and does nothing', async () => {
  const warnings: string[] = [];
  const logger = { ...silentLogger(), warn: (m: string) => warnings.push(m) } as unknown as ReturnType<typeof silentLogger>;
  const flush = createPagePoolFlush({ metrics: new Metrics(), logger }, { collect: null });
  await flush.start();
  await flush.shutdown();
  assert.equal(warnings.length, 1);
});

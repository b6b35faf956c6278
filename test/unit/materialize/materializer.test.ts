import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConfig } from '../../../src/config/load.ts';
import { createSpanTable } from '../../../src/lake/factory.ts';
import type { WriteSpanColumns } from '../../../src/lake/span-schema.ts';
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
  return { table, spool, close, dir };
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

for (const encodeThread of [false, true]) {
  const on = encodeThread ? ' (encoded on the encode thread)' : '';

  test(`a spool record with invalid UTF-8 (e.g. written to Kafka by a Collector) is counted and left out, never rewritten${on}`, async () => {
    const metrics = new Metrics();
    const deps = { metrics, logger: silentLogger() };
    const { table, spool, close, dir } = await localTableAndSpool(deps);
    const m = new Materializer(spool, table, { commitIntervalMs: 3_600_000, maxCommitBytes: 8 << 20, encodeThread }, deps);
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
      // Its spans were found bad as their partition was written: the files of that attempt are gone.
      const onDisk = readdirSync(join(dir, 'warehouse'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.parquet'));
      assert.equal(onDisk.length, files.length, 'no data file outside the table');
    } finally {
      await m.shutdown();
      await spool.shutdown();
      await close();
    }
  });

  test(`the spool records a commit read are not kept once it is done${on}`, async () => {
    const deps = { metrics: new Metrics(), logger: silentLogger() };
    const { table, spool, close } = await localTableAndSpool(deps);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // The read chunks the payloads are slices of (a spool read holds ~max_commit_mib of them), watched
    // by a FinalizationRegistry: a WeakRef would keep its target alive until Node next clears the
    // objects V8 keeps for the current job, which is not after every task.
    let read = 0;
    let collected = 0;
    const watch = new FinalizationRegistry(() => collected++);
    // An own property over the method (the local spool's private fields rule out a wrapper object).
    const spoolRead = spool.read.bind(spool);
    spool.read = async (...args) => {
      const records = await spoolRead(...args);
      for (const r of records) watch.register(r.payload.buffer, null);
      read += records.length;
      return records;
    };
    const m = new Materializer(spool, table, { commitIntervalMs: 3_600_000, maxCommitBytes: 8 << 20, encodeThread }, deps);
    try {
      await m.start();
      // Records past Buffer's pool (reads under 32 KiB are slices of a pool slab that stays reachable).
      await spool.append([request(300), request(300)]);
      assert.equal(await m.commitOnce(), true);
      assert.equal(read, 2, 'the commit read both records');
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      // The registry's callbacks run in a task of their own, some time after the collection.
      for (let i = 0; i < 200 && collected < read; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(read - collected, 0, 'no read chunk is reachable from the materializer once the commit is done');
      const { files } = await table.changesSince(0);
      assert.equal(files.reduce((n, f) => n + f.recordCount, 0), 600);
    } finally {
      await m.shutdown();
      await spool.shutdown();
      await close();
    }
  });
}

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
  // On the global tracker, restored by hand before the fake timers: the test's own tracker would
  // restore it after them, putting the fake setTimeout back for every later test.
  const scheduled = mock.method(globalThis, 'setTimeout');
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
    scheduled.mock.restore();
    t.mock.timers.reset();
    await spool.shutdown();
    await close();
  }
});

test('observers see every span of a commit once, a partition at a time, after it landed; `landed` hears of each commit', async () => {
  const deps = { metrics: new Metrics(), logger: silentLogger() };
  const { table, spool, close } = await localTableAndSpool(deps);
  const seen: string[] = [];
  let landed = 0;
  let committedBefore = -1;
  const observer = {
    id: 'test',
    committed: (part: WriteSpanColumns) => {
      for (let i = 0; i < part.length; i++) seen.push(part.span_id[i]!);
    },
  };
  const m = new Materializer(spool, table, { commitIntervalMs: 3_600_000, maxCommitBytes: 8 << 20 }, {
    ...deps,
    observers: [observer],
    landed: () => {
      landed++;
      committedBefore = seen.length;
    },
  });
  try {
    await m.start();
    const traces = Array.from({ length: 40 }, () => makeTrace({ n: 3, startMs: Date.now(), durationMs: 10 }));
    await spool.append([toProtobuf([{ service: 'svc', scope: { name: 's' }, spans: traces.flat() }])]);
    assert.equal(await m.commitOnce(), true);
    const { files } = await table.changesSince(0);
    assert.ok(files.length > 1, 'several partitions');
    assert.deepEqual(seen.sort(), traces.flat().map((s) => s.spanId).sort(), 'each span once');
    assert.equal(landed, 1);
    assert.equal(committedBefore, 120, 'the observers were shown the whole commit first');
    assert.equal(await m.commitOnce(), false, 'nothing more to commit');
    assert.equal(landed, 1, 'no commit, no word');
  } finally {
    await m.shutdown();
    await spool.shutdown();
    await close();
  }
});

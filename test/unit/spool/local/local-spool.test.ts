import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { PipelineBusyError, TailsamplerError } from '../../../../src/errors.ts';
import { parsePosition } from '../../../../src/spool/local/position.ts';
import {
  KIB_IN_MIB,
  gate,
  makeSpool,
  readAll,
  rec,
  recNo,
  segmentFiles,
  spoolConfig,
  tempDir,
} from './spool-fixture.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

describe('LocalSpool append/read', () => {
  it('reads back appended records in order with increasing positions, strictly after `from`', async () => {
    const { spool } = makeSpool(spoolConfig(dir));
    await spool.start();
    await spool.append([rec(0), rec(1)]);
    await spool.append([rec(2)]);
    const all = await spool.read(null, 1 << 20);
    assert.deepEqual(all.map((r) => recNo(r.payload)), [0, 1, 2]);
    assert.ok(all[0]!.next < all[1]!.next && all[1]!.next < all[2]!.next);
    const after = await spool.read(all[0]!.next, 1 << 20);
    assert.deepEqual(after.map((r) => recNo(r.payload)), [1, 2]);
    assert.deepEqual(await spool.read(all[2]!.next, 1 << 20), []);
    await spool.shutdown();
  });

  it('documents positions as <20-digit segment>:<20-digit offset>', async () => {
    const { spool } = makeSpool(spoolConfig(dir));
    await spool.start();
    await spool.append([rec(0, 100)]);
    const [r] = await spool.read(null, 1 << 20);
    assert.match(r!.next, /^\d{20}:\d{20}$/);
    assert.deepEqual(parsePosition(r!.next), { segment: 0, offset: 8 + 8 + 100 });
    await spool.shutdown();
  });

  it('rolls segments past segment_size_mib and reads across them', async () => {
    const { spool } = makeSpool(spoolConfig(dir, { segment_size_mib: KIB_IN_MIB }));
    await spool.start();
    for (let i = 0; i < 40; i++) await spool.append([rec(i, 100), rec(i + 1000, 100)]);
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 8, `expected several segments, got ${files.length}`);
    const all = await readAll(spool, null, 350);
    const expected = [];
    for (let i = 0; i < 40; i++) expected.push(i, i + 1000);
    assert.deepEqual(all.map((r) => recNo(r.payload)), expected);
    assert.ok(new Set(all.map((r) => parsePosition(r.next).segment)).size >= 8);
    await spool.shutdown();
  });

  it('honours maxBytes but always returns at least one record', async () => {
    const { spool } = makeSpool(spoolConfig(dir));
    await spool.start();
    await spool.append([rec(0, 1000), rec(1, 10), rec(2, 10)]);
    const first = await spool.read(null, 5);
    assert.deepEqual(first.map((r) => recNo(r.payload)), [0]);
    const rest = await spool.read(first[0]!.next, 15);
    assert.deepEqual(rest.map((r) => recNo(r.payload)), [1]);
    await spool.shutdown();
  });

  it('stores empty payloads and thousands of records in one append (more buffers than IOV_MAX)', async () => {
    const { spool } = makeSpool(spoolConfig(dir));
    await spool.start();
    const many = Array.from({ length: 3000 }, (_, i) => rec(i, 4 + (i % 7)));
    await spool.append([new Uint8Array(0), ...many]);
    const all = await readAll(spool, null, 4096);
    assert.equal(all.length, 3001);
    assert.equal(all[0]!.payload.length, 0);
    assert.deepEqual(all.slice(1).map((r) => recNo(r.payload)), [...Array(3000).keys()]);
    assert.ok(all.slice(1).every((r, i) => r.payload.length === 4 + (i % 7)));
    await spool.shutdown();
  });

  it('rejects positions beyond the end of the spool', async () => {
    const { spool } = makeSpool(spoolConfig(dir));
    await spool.start();
    await spool.append([rec(0)]);
    await assert.rejects(spool.read('00000000000000000007:00000000000000000100', 10), { code: 'TS_SPOOL_POSITION' });
    await assert.rejects(spool.read('00000000000000000000:00000000000000099999', 10), { code: 'TS_SPOOL_POSITION' });
    await assert.rejects(spool.read('garbage', 10), { code: 'TS_SPOOL_POSITION' });
    await spool.shutdown();
  });

  it('rejects appends before start and after shutdown', async () => {
    const { spool } = makeSpool(spoolConfig(dir));
    await assert.rejects(spool.append([rec(0)]), { code: 'TS_SPOOL_CLOSED' });
    await spool.start();
    await spool.shutdown();
    await assert.rejects(spool.append([rec(0)]), { code: 'TS_SPOOL_CLOSED', retryable: true });
  });
});

describe('LocalSpool group commit', () => {
  it('concurrent appends share one write+fsync', async () => {
    let syncs = 0;
    const { spool } = makeSpool(spoolConfig(dir, { fsync_interval_ms: 20 }), {
      syncData: async (fh) => {
        syncs++;
        await fh.datasync();
      },
    });
    await spool.start();
    const appends = [];
    for (let i = 0; i < 50; i++) appends.push(spool.append([rec(i)]));
    await Promise.all(appends);
    assert.equal(syncs, 1);
    assert.equal(spool.syncCount, 1);
    const all = await spool.read(null, 1 << 20);
    assert.deepEqual(all.map((r) => recNo(r.payload)), [...Array(50).keys()]);
    await spool.shutdown();
  });

  it('returns only fsynced records to readers', async () => {
    const g = gate();
    let block = true;
    const { spool } = makeSpool(spoolConfig(dir, { fsync_interval_ms: 0 }), {
      syncData: async (fh) => {
        if (block) await g.promise;
        await fh.datasync();
      },
    });
    await spool.start();
    let done = false;
    const pending = spool.append([rec(7)]).then(() => (done = true));
    // Wait until the batch is written and held inside the sync.
    while (spool.syncCount === 0) await new Promise((r) => setImmediate(r));
    assert.deepEqual(await spool.read(null, 1 << 20), []);
    assert.equal(spool.pendingBytes(), 0);
    assert.equal(done, false);
    block = false;
    g.open();
    await pending;
    assert.deepEqual((await spool.read(null, 1 << 20)).map((r) => recNo(r.payload)), [7]);
    await spool.shutdown();
  });

  it('rejects every append of a batch whose fsync fails, and acknowledges none of it later', async () => {
    let fail = true;
    const { spool, lines } = makeSpool(spoolConfig(dir, { fsync_interval_ms: 5 }), {
      syncData: async (fh) => {
        if (fail) throw Object.assign(new Error('EIO: simulated'), { code: 'EIO' });
        await fh.datasync();
      },
    });
    await spool.start();
    const results = await Promise.allSettled([spool.append([rec(1)]), spool.append([rec(2), rec(3)])]);
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const e: unknown = r.reason;
      assert.ok(e instanceof TailsamplerError, String(e));
      assert.equal(e.code, 'TS_SPOOL_WRITE');
      assert.equal(e.retryable, true);
    }
    assert.equal(lines.filter((l) => l.level === 50).length, 1, 'one error line per failed batch');
    fail = false;
    await spool.append([rec(4)]);
    assert.deepEqual((await spool.read(null, 1 << 20)).map((r) => recNo(r.payload)), [4]);
    await spool.shutdown();
    // The failed bytes were cut from the file, so a restart does not resurrect them either.
    const again = makeSpool(spoolConfig(dir));
    await again.spool.start();
    assert.deepEqual((await again.spool.read(null, 1 << 20)).map((r) => recNo(r.payload)), [4]);
    await again.spool.shutdown();
  });

  it('shutdown flushes appends still waiting for the fsync interval', async () => {
    const { spool } = makeSpool(spoolConfig(dir, { fsync_interval_ms: 60_000 }));
    await spool.start();
    let done = false;
    const p = spool.append([rec(5)]).then(() => (done = true));
    await spool.shutdown();
    await p;
    assert.equal(done, true);
    const again = makeSpool(spoolConfig(dir));
    await again.spool.start();
    assert.deepEqual((await again.spool.read(null, 1 << 20)).map((r) => recNo(r.payload)), [5]);
    await again.spool.shutdown();
  });
});

describe('LocalSpool release and back-pressure', () => {
  it('release deletes whole segments before the position, never the active one, and tracks pending bytes', async () => {
    const { spool, metrics } = makeSpool(spoolConfig(dir, { segment_size_mib: KIB_IN_MIB }));
    await spool.start();
    for (let i = 0; i < 30; i++) await spool.append([rec(i, 200)]);
    const all = await readAll(spool);
    const frame = 8 + 200;
    assert.equal(spool.pendingBytes(), 30 * frame);
    assert.equal((await metrics.spoolPendingBytes.get()).values[0]!.value, 30 * frame);
    const before = (await segmentFiles(dir)).length;

    await spool.release(all[19]!.next);
    assert.equal(spool.pendingBytes(), 10 * frame);
    assert.equal((await metrics.spoolPendingBytes.get()).values[0]!.value, 10 * frame);
    const after = await segmentFiles(dir);
    assert.ok(after.length < before, 'released segments deleted');
    const oldest = Number(after[0]!.slice(0, 20));
    assert.ok(oldest <= parsePosition(all[20]!.next).segment, 'unreleased record 20 is still retained');
    // From the oldest retained record: nothing unreleased is lost.
    const retained = (await readAll(spool)).map((r) => recNo(r.payload));
    assert.deepEqual(retained.slice(-10), [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    // A position inside a deleted segment reads on from the oldest retained segment.
    assert.ok((await spool.read(all[0]!.next, 1 << 20)).length > 0);

    await spool.release(all[29]!.next);
    assert.equal(spool.pendingBytes(), 0);
    assert.equal((await segmentFiles(dir)).length, 1, 'the active segment stays');
    await spool.release(all[5]!.next); // going backwards is ignored
    assert.equal(spool.pendingBytes(), 0);
    await spool.append([rec(99)]);
    assert.deepEqual((await spool.read(all[29]!.next, 1 << 20)).map((r) => recNo(r.payload)), [99]);
    await spool.shutdown();
  });

  it('refuses appends with PipelineBusyError over max_pending, and recovers after release', async () => {
    const { spool } = makeSpool(spoolConfig(dir, { max_pending_mib: KIB_IN_MIB }));
    await spool.start();
    await spool.append([rec(0, 600)]);
    await spool.append([rec(1, 600)]); // 1216 bytes pending > 1024
    const err = await spool.append([rec(2)]).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof PipelineBusyError);
    assert.equal(err.code, 'TS_PIPELINE_BUSY');
    assert.ok(err.retryAfterMs >= 1000);
    const all = await spool.read(null, 1 << 20);
    await spool.release(all[1]!.next);
    await spool.append([rec(2)]);
    assert.deepEqual((await spool.read(all[1]!.next, 1 << 20)).map((r) => recNo(r.payload)), [2]);
    await spool.shutdown();
  });

  it('bounds bytes queued in memory with PipelineBusyError', async () => {
    const g = gate();
    const { spool } = makeSpool(spoolConfig(dir), {
      maxQueuedBytes: 1000,
      syncData: async (fh) => {
        await g.promise;
        await fh.datasync();
      },
    });
    await spool.start();
    const first = spool.append([rec(0, 600)]);
    await assert.rejects(spool.append([rec(1, 600)]), (e: unknown) => e instanceof PipelineBusyError);
    g.open();
    await first;
    await spool.append([rec(1, 600)]);
    assert.deepEqual((await spool.read(null, 1 << 20)).map((r) => recNo(r.payload)), [0, 1]);
    await spool.shutdown();
  });
});

describe('LocalSpool receipt times', () => {
  it('tells when each record this process appended came in, across segments; none for records from before a restart', async () => {
    // Small segments, so appends roll over into new ones.
    const config = spoolConfig(dir, { segment_size_mib: KIB_IN_MIB });
    const { spool } = makeSpool(config);
    await spool.start();
    const t0 = Date.now();
    await spool.append([rec(0, 200), rec(1, 200)]);
    await new Promise((r) => setTimeout(r, 30));
    const t1 = Date.now();
    for (let i = 2; i < 40; i++) await spool.append([rec(i, 200)]);
    const t2 = Date.now();
    const all = await spool.read(null, 1 << 20);
    assert.equal(all.length, 40);
    assert.ok(new Set(all.map((r) => parsePosition(r.next).segment)).size > 1, 'spans segments');
    for (const r of all.slice(0, 2)) assert.ok(r.receivedMs! >= t0 && r.receivedMs! < t1, `first append at ${r.receivedMs}`);
    for (const r of all.slice(2)) assert.ok(r.receivedMs! >= t1 && r.receivedMs! <= t2, `later append at ${r.receivedMs}`);
    // Released records are forgotten; the rest keep their times.
    await spool.release(all[19]!.next);
    const rest = await spool.read(all[19]!.next, 1 << 20);
    assert.deepEqual(rest.map((r) => r.receivedMs), all.slice(20).map((r) => r.receivedMs));
    await spool.shutdown();

    const again = makeSpool(config).spool;
    await again.start();
    await again.append([rec(40, 200)]);
    const after = await again.read(all[19]!.next, 1 << 20);
    assert.equal(after.length, 21);
    assert.ok(after.slice(0, 20).every((r) => r.receivedMs === undefined), 'before the restart: unknown');
    assert.ok(after[20]!.receivedMs! >= t2);
    await again.shutdown();
  });
});

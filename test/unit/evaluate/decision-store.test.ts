import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecisionStore, type StoredDecision } from '../../../src/evaluate/decision-store.ts';
import { readCheckpoint, writeCheckpoint } from '../../../src/evaluate/checkpoint.ts';
import { FLAG_ROOT, TraceTable } from '../../../src/evaluate/trace-table.ts';
import { writeLegacyCheckpoint } from '../../support/legacy-checkpoint.ts';

const decision = (traceId: string, keep: boolean, decidedAtMs = 1000): StoredDecision => ({
  traceId,
  keep,
  policy: keep ? 'errors' : '',
  threshold: keep ? '0' : null,
  decidedAtMs,
  firstSeq: 2,
  lastSeq: 5,
  exported: !keep,
});

test('decisions survive reopening and the first decision wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-decisions-'));
  const a = 'a'.repeat(32), b = 'b'.repeat(32);
  let store = new DecisionStore(dir);
  store.record([decision(a, true), decision(b, false)]);
  store.record([decision(a, false)]);
  store.close();
  store = new DecisionStore(dir);
  const found = store.lookup([a, b, 'c'.repeat(32)]);
  assert.equal(found.size, 2);
  assert.equal(found.get(a)!.keep, true);
  assert.equal(found.get(a)!.policy, 'errors');
  assert.equal(found.get(a)!.exported, false, 'a kept trace is not exported until the emitter says so');
  assert.equal(found.get(b)!.exported, true, 'a dropped trace has nothing to export');
  store.close();
});

test('within one batch, given in any order, the first decision of a trace wins', () => {
  const store = new DecisionStore(mkdtempSync(join(tmpdir(), 'ts-decisions-')));
  const ids = ['f', '0', 'a', '5'].map((c) => c.repeat(32));
  store.record([...ids.map((id) => decision(id, true)), ...ids.toReversed().map((id) => decision(id, false))]);
  const found = store.lookup(ids);
  assert.deepEqual(ids.map((id) => found.get(id)?.keep), [true, true, true, true]);
  store.restore([decision(ids[2]!, false), decision(ids[2]!, true)]);
  assert.equal(store.lookup([ids[2]!]).get(ids[2]!)!.keep, true, 'restore takes the last of one batch, as rows replace rows');
  store.close();
});

test('lookups larger than one statement chunk and expiry', () => {
  const store = new DecisionStore(mkdtempSync(join(tmpdir(), 'ts-decisions-')));
  const ids = Array.from({ length: 1234 }, (_, i) => i.toString(16).padStart(32, '0'));
  store.record(ids.map((id, i) => decision(id, false, i)));
  assert.equal(store.lookup(ids).size, 1234);
  assert.equal(store.expireBefore(1000), 1000);
  assert.equal(store.lookup(ids).size, 234);
  store.close();
});

test('lookups of any length, empty included, find exactly the recorded ids', () => {
  const store = new DecisionStore(mkdtempSync(join(tmpdir(), 'ts-decisions-')));
  const ids = Array.from({ length: 600 }, (_, i) => i.toString(16).padStart(32, '0'));
  store.record(ids.filter((_, i) => i % 3 === 0).map((id) => decision(id, true)));
  assert.equal(store.lookup([]).size, 0);
  for (let n = 1; n <= ids.length; n += 7) {
    const found = store.lookup(ids.slice(0, n));
    assert.deepEqual([...found.keys()].sort(), ids.slice(0, n).filter((_, i) => i % 3 === 0));
  }
  // A repeated id is found once.
  assert.equal(store.lookup([ids[0]!, ids[0]!]).size, 1);
  store.close();
});

test('checkpoint round trip keeps the sequence number and every summary', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ts-ckpt-')), 'live.ckpt');
  assert.equal(await readCheckpoint(path), null);
  const t = new TraceTable();
  t.fold('0123456789abcdef0123456789abcdef', 1, 1, true, 1n << 60n, (1n << 60n) + 5n, 7, 42, 40, 9);
  await writeCheckpoint(path, 9, t);
  const back = await readCheckpoint(path);
  assert.equal(back!.sequenceNumber, 9);
  const s = back!.traces.find('0123456789abcdef0123456789abcdef');
  assert.equal(back!.traces.minStart[s], 1n << 60n);
  assert.equal(back!.traces.errorCount[s], 1);
  assert.equal(back!.traces.lastReceivedMs(s), 40);
});

test('a version 1 checkpoint (before receipt times) restores, each trace received when seen', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ts-ckpt-')), 'live.ckpt');
  // As version 1 wrote it: float64 bytes and seen times, and no receiptLagMs array.
  writeLegacyCheckpoint(path, 1, 9, [
    { traceId: '0123456789abcdef0123456789abcdef', state: 1 | FLAG_ROOT, spanCount: 1, errorCount: 0, bytes: 7, minStart: 5n, maxEnd: 9n, firstSeenMs: 42, lastSeenMs: 42, receiptLagMs: 12, firstSeq: 9, lastSeq: 9 },
  ]);
  const back = (await readCheckpoint(path))!.traces;
  const s = back.find('0123456789abcdef0123456789abcdef');
  assert.equal(back.lastSeq[s], 9);
  assert.equal(back.maxEnd[s], 9n);
  assert.equal(back.lastReceivedMs(s), 42);
});

test('a checkpoint larger than one write chunk restores every trace', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'ts-ckpt-')), 'live.ckpt');
  const t = new TraceTable();
  const n = 70_000;
  for (let i = 0; i < n; i++) t.fold(i.toString(16).padStart(32, '0'), 1, i % 7 === 0 ? 1 : 0, false, BigInt(i), BigInt(i) * 2n, 1, i, i, i);
  await writeCheckpoint(path, 3, t);
  const back = (await readCheckpoint(path))!.traces;
  assert.equal(back.size, n);
  for (const i of [0, 1, 65_535, 65_536, 69_999]) {
    const s = back.find(i.toString(16).padStart(32, '0'));
    assert.ok(s >= 0, `trace ${i} restored`);
    assert.equal(back.maxEnd[s], BigInt(i) * 2n);
    assert.equal(back.errorCount[s], i % 7 === 0 ? 1 : 0);
    assert.equal(back.lastSeq[s], i);
  }
});

test('commits wait for no fsync; sync makes every one before it durable at once, off the main thread', async () => {
  const store = new DecisionStore(mkdtempSync(join(tmpdir(), 'ts-decisions-')));
  const level = (): number => Number((store.db.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous);
  assert.equal(level(), 1, 'NORMAL');
  assert.equal(store.unsynced, false);
  store.record([decision('a'.repeat(32), true)]);
  store.record([decision('b'.repeat(32), false)]);
  assert.equal(store.unsynced, true);
  const syncing = store.sync();
  // Committed while the fsync runs on the thread pool: not known to be covered by it.
  store.record([decision('c'.repeat(32), true)]);
  await syncing;
  assert.equal(store.unsynced, true, 'a commit made during the sync waits for the next one');
  await store.sync();
  assert.equal(store.unsynced, false);
  assert.equal(level(), 1, 'still NORMAL: no commit waits for the disk');
  let inside: Promise<void> | undefined;
  store.transaction(() => {
    inside = store.sync();
  });
  await assert.rejects(inside!, /inside a transaction/);
  store.close();
});

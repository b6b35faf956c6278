import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, writeCheckpoint } from '../../../src/evaluate/checkpoint.ts';
import { ENTRY_BYTES, TraceTable, U32_MAX } from '../../../src/evaluate/trace-table.ts';

const id = () => randomBytes(16).toString('hex');

test('a run of spans folds as its spans one by one (counts add, errors saturate)', () => {
  const runs = new TraceTable(4);
  const single = new TraceTable(4);
  const a = id();
  runs.fold(a, 3, 2, true, 40n, 300n, 30, 1000, 900, 2);
  single.fold(a, 1, 1, false, 100n, 300n, 10, 1000, 900, 2);
  single.fold(a, 1, 1, true, 40n, 200n, 10, 1000, 700, 2);
  single.fold(a, 1, 0, false, 90n, 120n, 10, 1000, 800, 2);
  runs.fold(a, 0x1_0000, 0x1_0000, false, 50n, 60n, 0, 1100, 1000, 3);
  for (let i = 0; i < 0x1_0000; i++) single.fold(a, 1, 1, false, 50n, 60n, 0, 1100, 1000, 3);
  const r = runs.find(a);
  const s = single.find(a);
  for (const f of ['spanCount', 'errorCount', 'bytes', 'minStart', 'maxEnd', 'firstSeq', 'lastSeq'] as const) assert.equal(runs[f][r], single[f][s], f);
  assert.equal(runs.errorCount[r], 0xffff);
  assert.equal(runs.hasRoot(r), single.hasRoot(s));
  assert.equal(runs.lastReceivedMs(r), single.lastReceivedMs(s));
  assert.equal(runs.lastSeenMs(r), single.lastSeenMs(s));
});

test('folds spans into one summary per trace', () => {
  const t = new TraceTable(4);
  const a = id();
  t.fold(a, 1, 0, false, 100n, 200n, 10, 1000, 900, 1);
  t.fold(a, 1, 1, true, 50n, 150n, 20, 2000, 1500, 3);
  const s = t.find(a);
  assert.ok(s >= 0);
  assert.equal(t.size, 1);
  assert.equal(t.traceId(s), a);
  assert.equal(t.spanCount[s], 2);
  assert.equal(t.errorCount[s], 1);
  assert.equal(t.bytes[s], 30);
  assert.equal(t.minStart[s], 50n);
  assert.equal(t.maxEnd[s], 200n);
  assert.equal(t.firstSeenMs(s), 1000);
  assert.equal(t.lastSeenMs(s), 2000);
  // The last span reached the service at 1500, though the evaluator read it at 2000.
  assert.equal(t.lastReceivedMs(s), 1500);
  assert.equal(t.firstSeq[s], 1);
  assert.equal(t.lastSeq[s], 3);
  assert.equal(t.hasRoot(s), true);
  // A span received earlier but read later does not move the last receipt back.
  t.fold(a, 1, 0, false, 60n, 70n, 1, 2500, 1200, 4);
  assert.equal(t.lastSeenMs(s), 2500);
  assert.equal(t.lastReceivedMs(s), 1500);
  t.fold(a, 1, 0, false, 60n, 70n, 1, 2600, 2550, 4);
  assert.equal(t.lastReceivedMs(s), 2550);
});

test('grows, deletes (moving the last entry into the hole), and finds every remaining trace', () => {
  const t = new TraceTable(16);
  const ids = Array.from({ length: 50_000 }, id);
  ids.forEach((x, i) => t.fold(x, 1, 0, false, BigInt(i), BigInt(i + 1), 1, i, i, 1));
  assert.equal(t.size, 50_000);
  for (let i = 0; i < ids.length; i += 2) t.delete(t.find(ids[i]!));
  assert.equal(t.size, 25_000);
  ids.forEach((x, i) => {
    const s = t.find(x);
    if (i % 2 === 0) assert.equal(s, -1, `deleted ${x} still found`);
    else {
      assert.ok(s >= 0 && s < t.size, `lost ${x}`);
      assert.equal(t.traceId(s), x);
      assert.equal(t.minStart[s], BigInt(i));
    }
  });
});

test('memory follows live traces: arrays grow by a fixed step and shrink after deletes instead of keeping their peak', () => {
  const t = new TraceTable();
  // One past a size where a step proportional to the size held (1/8 of it) would add 75,000 entries.
  const n = 606_023;
  const ids = Array.from({ length: n }, id);
  ids.forEach((x) => t.fold(x, 1, 0, false, 1n, 2n, 1, 1, 1, 1));
  const peak = t.byteSize();
  assert.ok(peak >= n * ENTRY_BYTES);
  // At most one growth step (16,384 entries) more than the live entries, plus the index (2^20 slots
  // of 4 bytes keep 606,023 entries under 3/4 full).
  assert.ok(peak <= (n + 16_384) * ENTRY_BYTES + 2 ** 20 * 4, `peak ${peak}`);
  for (const x of ids.slice(0, n - 10_000)) t.delete(t.find(x));
  assert.equal(t.size, 10_000);
  assert.ok(t.byteSize() < peak / 4, `after deletes ${t.byteSize()} of peak ${peak}`);
  for (const x of ids.slice(n - 10_000)) assert.ok(t.find(x) >= 0);
});

test('a checkpoint restores the same traces', async () => {
  const t = new TraceTable();
  const ids = Array.from({ length: 300 }, id);
  ids.forEach((x, i) => t.fold(x, 1, i % 5 === 0 ? 1 : 0, i % 3 === 0, BigInt(i), BigInt(2 * i), i, i, i, i + 1));
  t.delete(t.find(ids[0]!));
  const path = join(mkdtempSync(join(tmpdir(), 'ckpt-')), 'live.ckpt');
  await writeCheckpoint(path, 42, t);
  const ckpt = await readCheckpoint(path);
  assert.equal(ckpt?.sequenceNumber, 42);
  const r = ckpt.traces;
  assert.equal(r.size, 299);
  assert.equal(r.find(ids[0]!), -1);
  ids.slice(1).forEach((x, j) => {
    const i = j + 1;
    const s = r.find(x);
    assert.ok(s >= 0, `lost ${x}`);
    assert.equal(r.spanCount[s], 1);
    assert.equal(r.errorCount[s], i % 5 === 0 ? 1 : 0);
    assert.equal(r.hasRoot(s), i % 3 === 0);
    assert.equal(r.maxEnd[s], BigInt(2 * i));
    assert.equal(r.bytes[s], i);
    assert.equal(r.lastSeq[s], i + 1);
  });
});

test('bytes and error counts saturate instead of wrapping', () => {
  const t = new TraceTable();
  const a = id();
  for (let i = 0; i < 3; i++) t.fold(a, 1, 0, false, 0n, 1n, 2 ** 31, 1000, 1000, 1);
  const s = t.find(a);
  assert.equal(t.bytes[s], U32_MAX);
  for (let i = 0; i < 0x1_0001; i++) t.fold(a, 1, 1, false, 0n, 1n, 0, 1000, 1000, 1);
  assert.equal(t.errorCount[s], 0xffff);
  assert.equal(t.spanCount[s], 3 + 0x1_0001);
});

test('seen times stay exact ms since epoch across a time base move, and saturate only ~24.8 days away', () => {
  const t = new TraceTable();
  const now = Date.parse('2026-12-02T10:00:00Z');
  const day = 86_400_000;
  const old = id(), recent = id();
  t.fold(old, 1, 0, false, 0n, 1n, 1, now, now, 1);
  t.fold(old, 1, 0, false, 0n, 1n, 1, now + 1_000, now + 900, 1);
  t.fold(recent, 1, 0, false, 0n, 1n, 1, now + 20 * day, now + 20 * day, 2);
  const base = t.baseMs;
  // 30 days on: past the offsets' range from the first base, so the base moves.
  t.fold(recent, 1, 0, false, 0n, 1n, 1, now + 30 * day, now + 30 * day - 5, 3);
  assert.notEqual(t.baseMs, base);
  const r = t.find(recent), o = t.find(old);
  assert.equal(t.firstSeenMs(r), now + 20 * day);
  assert.equal(t.lastSeenMs(r), now + 30 * day);
  assert.equal(t.lastReceivedMs(r), now + 30 * day - 5);
  // 30 days before the newest time is beyond the range: the old trace's times saturate at its edge.
  assert.equal(t.firstSeenMs(o), t.baseMs);
  assert.ok(t.lastSeenMs(o) >= now + 30 * day - 2 ** 31);
  // A clock jumping back below the base moves it the other way: times within range stay exact, and
  // one more than the range after the new time saturates at the range's top.
  const back = t.baseMs - day;
  t.fold(old, 1, 0, false, 0n, 1n, 1, back, back, 4);
  assert.equal(t.firstSeenMs(t.find(old)), back);
  assert.equal(t.firstSeenMs(t.find(recent)), now + 20 * day);
  assert.equal(t.lastSeenMs(t.find(recent)), t.baseMs + U32_MAX);
});

test('absorbing an entry of another table (its own time base) merges it as if its spans had been folded here', () => {
  const a = id();
  const b = id();
  const whole = new TraceTable(4);
  whole.fold(a, 2, 1, false, 100n, 200n, 10, 1_000, 900, 3);
  whole.fold(a, 3, 0, true, 50n, 400n, 20, 9_000, 8_500, 5);
  const here = new TraceTable(4);
  here.fold(a, 3, 0, true, 50n, 400n, 20, 9_000, 8_500, 5);
  const there = new TraceTable(4);
  // A time base far from this table's: seen times are carried as ms since epoch.
  there.fold(b, 1, 0, false, 1n, 2n, 1, 1_000 + 10 * 86_400_000, 1_000 + 10 * 86_400_000, 1);
  there.fold(a, 2, 1, false, 100n, 200n, 10, 1_000, 900, 3);
  const e = here.absorb(there, there.find(a));
  const w = whole.find(a);
  for (const f of ['spanCount', 'errorCount', 'bytes', 'minStart', 'maxEnd', 'firstSeq', 'lastSeq'] as const) assert.equal(here[f][e], whole[f][w], f);
  assert.equal(here.hasRoot(e), true);
  assert.equal(here.firstSeenMs(e), 1_000);
  assert.equal(here.lastSeenMs(e), 9_000);
  assert.equal(here.lastReceivedMs(e), 8_500);
  // A trace new here is copied as it was.
  const n = here.absorb(there, there.find(b));
  assert.equal(here.size, 2);
  assert.equal(here.traceId(n), b);
  assert.equal(here.lastSeenMs(n), 1_000 + 10 * 86_400_000);
  assert.equal(here.spanCount[n], 1);
});

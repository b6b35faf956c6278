import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TraceTable } from '../../../src/evaluate/trace-table.ts';

const id = () => randomBytes(16).toString('hex');

test('folds spans into one summary per trace', () => {
  const t = new TraceTable(4);
  const a = id();
  t.fold(a, false, false, 100n, 200n, 10, 1000, 1);
  t.fold(a, true, true, 50n, 150n, 20, 2000, 3);
  const s = t.find(a);
  assert.ok(s >= 0);
  assert.equal(t.size, 1);
  assert.equal(t.traceId(s), a);
  assert.equal(t.spanCount[s], 2);
  assert.equal(t.errorCount[s], 1);
  assert.equal(t.bytes[s], 30);
  assert.equal(t.minStart[s], 50n);
  assert.equal(t.maxEnd[s], 200n);
  assert.equal(t.firstSeenMs[s], 1000);
  assert.equal(t.lastSeenMs[s], 2000);
  assert.equal(t.firstSeq[s], 1);
  assert.equal(t.lastSeq[s], 3);
  assert.equal(t.hasRoot(s), true);
});

test('grows, deletes with backward shift, and finds every remaining trace', () => {
  const t = new TraceTable(16);
  const ids = Array.from({ length: 5000 }, id);
  ids.forEach((x, i) => t.fold(x, false, false, BigInt(i), BigInt(i + 1), 1, i, 1));
  assert.equal(t.size, 5000);
  for (let i = 0; i < ids.length; i += 2) t.delete(t.find(ids[i]!));
  assert.equal(t.size, 2500);
  ids.forEach((x, i) => {
    const s = t.find(x);
    if (i % 2 === 0) assert.equal(s, -1, `deleted ${x} still found`);
    else {
      assert.ok(s >= 0, `lost ${x}`);
      assert.equal(t.minStart[s], BigInt(i));
    }
  });
});

test('a snapshot restores the same traces', () => {
  const t = new TraceTable();
  const ids = Array.from({ length: 300 }, id);
  ids.forEach((x, i) => t.fold(x, i % 3 === 0, i % 5 === 0, BigInt(i), BigInt(2 * i), i, i, i + 1));
  const r = TraceTable.fromSnapshot(t.snapshot());
  assert.equal(r.size, 300);
  ids.forEach((x, i) => {
    const s = r.find(x);
    assert.equal(r.spanCount[s], 1);
    assert.equal(r.errorCount[s], i % 5 === 0 ? 1 : 0);
    assert.equal(r.hasRoot(s), i % 3 === 0);
    assert.equal(r.maxEnd[s], BigInt(2 * i));
    assert.equal(r.lastSeq[s], i + 1);
  });
});

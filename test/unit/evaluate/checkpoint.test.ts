import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, writeCheckpoint } from '../../../src/evaluate/checkpoint.ts';
import { FLAG_ROOT, TraceTable, U32_MAX } from '../../../src/evaluate/trace-table.ts';
import { writeLegacyCheckpoint, type LegacyTrace } from '../../support/legacy-checkpoint.ts';

const A = '0123456789abcdef0123456789abcdef';
const B = 'fedcba9876543210fedcba9876543210';
const NOW = Date.parse('2026-12-02T10:00:00Z');
const path = () => join(mkdtempSync(join(tmpdir(), 'ts-ckpt-')), 'live.ckpt');

test('a version 2 checkpoint restores as the current version: seen times, receipt, ranges exact; wide counts saturate', async () => {
  const p = path();
  const traces: LegacyTrace[] = [
    { traceId: A, state: 1 | FLAG_ROOT, spanCount: 70_000, errorCount: 70_000, bytes: 5e9, minStart: 1n << 60n, maxEnd: (1n << 60n) + 7_000_000_001n, firstSeenMs: NOW - 90_000, lastSeenMs: NOW - 1_000, receiptLagMs: 250, firstSeq: 3, lastSeq: 8 },
    { traceId: B, state: 1, spanCount: 2, errorCount: 0, bytes: 1234, minStart: -5n, maxEnd: 9n, firstSeenMs: NOW - 5_000, lastSeenMs: NOW, receiptLagMs: 0, firstSeq: 7, lastSeq: 7 },
  ];
  writeLegacyCheckpoint(p, 2, 11, traces);
  const ckpt = (await readCheckpoint(p))!;
  assert.equal(ckpt.sequenceNumber, 11);
  const t = ckpt.traces;
  const a = t.find(A), b = t.find(B);
  assert.equal(t.size, 2);
  assert.equal(t.hasRoot(a), true);
  assert.equal(t.hasRoot(b), false);
  assert.equal(t.spanCount[a], 70_000);
  assert.equal(t.errorCount[a], 0xffff, 'error count saturates at 2^16-1');
  assert.equal(t.bytes[a], U32_MAX, 'bytes saturate at 2^32-1');
  assert.equal(t.bytes[b], 1234);
  assert.equal(t.maxEnd[a]! - t.minStart[a]!, 7_000_000_001n);
  assert.equal(t.minStart[b], -5n);
  assert.equal(t.firstSeenMs(a), NOW - 90_000);
  assert.equal(t.lastSeenMs(a), NOW - 1_000);
  assert.equal(t.lastReceivedMs(a), NOW - 1_250);
  assert.equal(t.firstSeenMs(b), NOW - 5_000);
  assert.equal(t.lastSeenMs(b), NOW);
  assert.equal(t.firstSeq[a], 3);
  assert.equal(t.lastSeq[a], 8);
  // Folding on continues from the restored base, and a rewrite is the current version (4) with that base.
  t.fold(B, 1, 1, false, 0n, 20n, 6, NOW + 2_000, NOW + 1_500, 9);
  assert.equal(t.lastSeenMs(b), NOW + 2_000);
  assert.equal(t.lastReceivedMs(b), NOW + 1_500);
  const p3 = path();
  await writeCheckpoint(p3, 12, t);
  const header = JSON.parse(readFileSync(p3, 'utf8').split('\n')[0]!) as { version: number; baseMs: number };
  assert.equal(header.version, 4);
  assert.equal(header.baseMs, t.baseMs);
  const back = (await readCheckpoint(p3))!.traces;
  const b3 = back.find(B);
  assert.equal(back.firstSeenMs(b3), NOW - 5_000);
  assert.equal(back.lastSeenMs(b3), NOW + 2_000);
  assert.equal(back.errorCount[b3], 1);
  assert.equal(back.maxEnd[b3], 20n);
  assert.equal(back.errorCount[back.find(A)], 0xffff);
});

test('an empty table checkpoints and restores, then takes its time base from its first fold', async () => {
  const p = path();
  await writeCheckpoint(p, 1, new TraceTable());
  const t = (await readCheckpoint(p))!.traces;
  assert.equal(t.size, 0);
  t.fold(A, 1, 0, true, 1n, 2n, 3, NOW, NOW, 2);
  assert.equal(t.firstSeenMs(t.find(A)), NOW);
});

test('a checkpoint names its spilled segments; a version 3 one has none; a badly named segment is refused', async () => {
  const p = path();
  const spilled = [{ file: 'a1.summaries', count: 3, dueMs: NOW + 60_000, minFirstSeq: 7 }];
  await writeCheckpoint(p, 4, new TraceTable(), spilled);
  assert.deepEqual((await readCheckpoint(p))!.spilled, spilled);

  const v3 = readFileSync(p, 'utf8').replace('"version":4', '"version":3').replace(/,"spilled":\[.*\]/, '');
  writeFileSync(p, v3);
  assert.deepEqual((await readCheckpoint(p))!.spilled, []);

  await writeCheckpoint(p, 4, new TraceTable(), [{ ...spilled[0]!, file: '../elsewhere' }]);
  await assert.rejects(readCheckpoint(p), { code: 'TS_EVALUATOR_CHECKPOINT_CORRUPT' });
});

test('a header longer than the first read (many spilled segments) is read whole', async () => {
  const p = path();
  const spilled = Array.from({ length: 200 }, (_, i) => ({ file: `seg-${i}.summaries`, count: i + 1, dueMs: NOW + i, minFirstSeq: i }));
  const t = new TraceTable();
  t.fold(A, 2, 1, true, 1n, 2n, 3, NOW, NOW, 2);
  await writeCheckpoint(p, 9, t, spilled);
  const back = (await readCheckpoint(p))!;
  assert.deepEqual(back.spilled, spilled);
  assert.equal(back.traces.spanCount[back.traces.find(A)], 2);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SummarySpill, type DecidedWhileSpilled } from '../../../src/evaluate/summary-spill.ts';
import { TRACE_FIELD_NAMES, TraceTable } from '../../../src/evaluate/trace-table.ts';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const IDLE = 30_000;
const WAIT = 3_600_000;
const id = () => randomBytes(16).toString('hex');
const dir = () => join(mkdtempSync(join(tmpdir(), 'ts-spill-')), 'spill');
const dueOf = (t: TraceTable) => (e: number) => t.lastSeenMs(e) + WAIT;
const all = () => true;
const none = () => false;

/** Every field of every entry, by trace id (for comparing tables whatever their entry order and time base). */
function snapshot(t: TraceTable): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  for (let e = 0; e < t.size; e++) {
    const fields = TRACE_FIELD_NAMES.filter((f) => f !== 'firstSeen' && f !== 'lastSeen' && f !== 'keys').map((f) => t[f][e]);
    out.set(t.traceId(e), [...fields, t.firstSeenMs(e), t.lastSeenMs(e)]);
  }
  return out;
}

/** `n` traces seen at `seenMs`, spans and sizes varying by trace. */
function fill(t: TraceTable, n: number, seenMs: number, seq: number): string[] {
  const ids = Array.from({ length: n }, id);
  ids.forEach((x, i) => t.fold(x, 1 + (i % 5), i % 3 === 0 ? 1 : 0, i % 2 === 0, BigInt(i), BigInt(i + 100), 10 + i, seenMs, seenMs - 5, seq + (i % 4)));
  return ids;
}

test('idle summaries not due soon go to disk and come back unchanged when due; active or soon-due ones stay', async () => {
  const d = dir();
  const spill = new SummarySpill(d, IDLE, 10);
  const t = new TraceTable();
  const idle = fill(t, 40, NOW, 3);
  const before = snapshot(t);
  const active = fill(t, 5, NOW + IDLE - 1, 9);
  assert.equal(await spill.spill(t, NOW + IDLE, dueOf(t)), 40);
  assert.equal(t.size, 5);
  for (const x of active) assert.ok(t.find(x) >= 0);
  for (const x of idle) assert.equal(t.find(x), -1);
  assert.equal(spill.count, 40);
  assert.equal(spill.minFirstSeq(), 3);
  assert.equal(readdirSync(d).length, spill.segments.length);

  // Not due yet: nothing comes back.
  await spill.reload(t, NOW + WAIT - 1, all, none);
  assert.equal(spill.count, 40);
  await spill.reload(t, NOW + WAIT, all, none);
  assert.equal(spill.count, 0);
  const back = snapshot(t);
  for (const [x, fields] of before) assert.deepEqual(back.get(x), fields, x);
  // The files go once no checkpoint names them.
  assert.equal(readdirSync(d).length, 1);
  await spill.prune();
  assert.deepEqual(readdirSync(d), []);
});

test('fewer idle summaries than the minimum, or a trace due within the idle time, stay in memory', async () => {
  const spill = new SummarySpill(dir(), IDLE, 10);
  const t = new TraceTable();
  fill(t, 9, NOW, 1);
  assert.equal(await spill.spill(t, NOW + IDLE, dueOf(t)), 0);
  fill(t, 5, NOW, 1);
  // Due within IDLE of now: not worth a file.
  assert.equal(await spill.spill(t, NOW + WAIT - IDLE, dueOf(t)), 0);
  assert.equal(t.size, 14);
  assert.equal(await new SummarySpill(dir(), Infinity, 1).spill(t, NOW + IDLE, dueOf(t)), 0);
});

test('a late span of a spilled trace starts a summary in memory; the two merge when the spilled part comes back', async () => {
  const spill = new SummarySpill(dir(), IDLE, 10);
  const t = new TraceTable();
  const ids = fill(t, 20, NOW, 2);
  const x = ids[7]!;
  const spans = t.spanCount[t.find(x)]!;
  const firstSeq = t.firstSeq[t.find(x)]!;
  await spill.spill(t, NOW + IDLE, dueOf(t));
  t.fold(x, 2, 1, false, 1n, 10_000n, 5, NOW + 2 * IDLE, NOW + 2 * IDLE - 10, 30);
  await spill.reload(t, NOW + WAIT, all, none);
  const e = t.find(x);
  assert.equal(t.spanCount[e], spans + 2);
  assert.equal(t.firstSeenMs(e), NOW);
  assert.equal(t.lastSeenMs(e), NOW + 2 * IDLE);
  assert.equal(t.lastReceivedMs(e), NOW + 2 * IDLE - 10);
  assert.equal(t.firstSeq[e], firstSeq);
  assert.equal(t.lastSeq[e], 30);
  assert.equal(t.maxEnd[e], 10_000n);
  assert.equal(t.size, 20);
});

test('a spilled part of a trace decided by a cap meanwhile is handed over, not folded back; traces not owned are left out', async () => {
  const spill = new SummarySpill(dir(), IDLE, 10);
  const t = new TraceTable();
  const ids = fill(t, 20, NOW, 2);
  await spill.spill(t, NOW + IDLE, dueOf(t));
  spill.decidedByCap(ids[0]!);
  spill.decidedByCap(ids[1]!);
  const handed: DecidedWhileSpilled[] = [];
  // ids[1]'s decision is gone (false): it comes back as live.
  await spill.reload(t, Infinity, (x) => x !== ids[2], (part) => (handed.push(part), part.traceId === ids[0]));
  assert.deepEqual(handed.map((h) => h.traceId).sort(), [ids[0], ids[1]].sort());
  const h = handed.find((p) => p.traceId === ids[0])!;
  assert.equal(h.spans, 1);
  assert.equal(h.firstSeq, 2);
  assert.equal(t.find(ids[0]!), -1);
  assert.ok(t.find(ids[1]!) >= 0);
  assert.equal(t.find(ids[2]!), -1);
  assert.equal(t.size, 18);
});

test('restore takes up the segments a checkpoint names, removes other files, and refuses a named file that is missing', async () => {
  const d = dir();
  const spill = new SummarySpill(d, IDLE, 10);
  const t = new TraceTable();
  const ids = fill(t, 12, NOW, 4);
  await spill.spill(t, NOW + IDLE, dueOf(t));
  const named = [...spill.segments];
  writeFileSync(join(d, 'orphan.summaries'), 'spilled after the checkpoint');
  const again = new SummarySpill(d, IDLE, 10);
  await again.restore(named);
  assert.deepEqual(readdirSync(d).sort(), named.map((s) => s.file).sort());
  const fresh = new TraceTable();
  await again.reload(fresh, Infinity, all, none);
  assert.deepEqual([...snapshot(fresh).keys()].sort(), [...ids].sort());
  await again.prune();

  await assert.rejects(new SummarySpill(d, IDLE, 10).restore(named), { code: 'TS_EVALUATOR_CHECKPOINT_CORRUPT' });
});

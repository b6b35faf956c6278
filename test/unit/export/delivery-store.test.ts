import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecisionStore, type StoredDecision } from '../../../src/evaluate/decision-store.ts';
import { DeliveryStore, listDeadLetters, type Delivery } from '../../../src/export/delivery-store.ts';

const kept = (traceId: string): StoredDecision => ({
  traceId,
  keep: true,
  policy: 'errors',
  threshold: '0',
  decidedAtMs: 1_000,
  firstSeq: 3,
  lastSeq: 4,
  exported: false,
});

const owed = (exporter: string, d: StoredDecision): Delivery => ({
  exporter,
  traceId: d.traceId,
  firstSeq: d.firstSeq,
  lastSeq: d.lastSeq,
  threshold: d.threshold,
  policy: d.policy,
  decidedAtMs: d.decidedAtMs,
  attempts: 0,
});

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

test('a trace is exported once every exporter delivered or dead-lettered it, in the same transaction', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-deliveries-'));
  const decisions = new DecisionStore(dir);
  const store = new DeliveryStore(decisions);
  decisions.record([kept(A)]);
  assert.equal(store.enqueue([owed('otlp', kept(A)), owed('otlp/b', kept(A))], 5), 2);
  assert.equal(store.enqueue([owed('otlp', kept(A))], 6), 0, 'owing twice is owing once');
  assert.deepEqual(store.due('otlp', 5, 10, new Set()).map((d) => d.traceId), [A]);
  assert.deepEqual(store.due('otlp', 4, 10, new Set()), [], 'not due before it was queued');

  let settled = store.settle({ delivered: [owed('otlp', kept(A))] }, 10);
  assert.deepEqual([...settled.removed], [['otlp', 1]]);
  assert.deepEqual(settled.exported, [], 'otlp/b still owes it');
  store.settle({ retry: [{ delivery: owed('otlp/b', kept(A)), nextAtMs: 100, error: 'down' }] }, 10);
  assert.deepEqual(store.due('otlp/b', 99, 10, new Set()), [], 'backing off');
  assert.equal(store.due('otlp/b', 100, 10, new Set())[0]!.attempts, 1);
  settled = store.settle({ deadLetters: [{ delivery: owed('otlp/b', kept(A)), reason: 'rejected', error: 'HTTP 400' }] }, 20);
  assert.equal(settled.exported.length, 1);
  assert.equal(settled.exported[0]!.traceId, A);
  assert.equal(decisions.lookup([A]).get(A)!.exported, true);
  assert.equal(store.backlog('otlp'), 0);
  assert.equal(store.minFirstSeq(), null);
  decisions.close();

  const letters = listDeadLetters(dir, 10);
  assert.deepEqual(letters.map((l) => [l.exporter, l.traceId, l.reason, l.error, l.failedAtMs]), [['otlp/b', A, 'rejected', 'HTTP 400', 20]]);
  assert.deepEqual(listDeadLetters(mkdtempSync(join(tmpdir(), 'ts-none-')), 10), [], 'no state yet: no dead letters');
});

test('at start, kept traces left unowed by a crash are owed again, and what removed exporters owed is dead-lettered', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-deliveries-'));
  const decisions = new DecisionStore(dir);
  const store = new DeliveryStore(decisions);
  decisions.record([kept(A), kept(B), { ...kept('c'.repeat(32)), keep: false, exported: true }]);
  store.enqueue([owed('gone', kept(B))], 1);
  const { requeued, orphaned } = store.reconcile(['otlp', 'debug'], 2);
  assert.equal(orphaned, 1);
  assert.equal(requeued, 2, 'A (never queued) is owed to both exporters; B was owed to the removed one only');
  assert.deepEqual(store.due('otlp', 2, 10, new Set()).map((d) => d.traceId), [A]);
  assert.equal(decisions.lookup([B]).get(B)!.exported, true, 'B is done: its only exporter is gone');
  assert.deepEqual(listDeadLetters(dir, 10).map((l) => [l.exporter, l.traceId, l.reason]), [['gone', B, 'exporter_removed']]);
  assert.deepEqual(store.reconcile(['otlp', 'debug'], 3), { requeued: 0, orphaned: 0 }, 'idempotent');
  decisions.close();
});

test('release forgets what is owed for traces another replica decides now', () => {
  const decisions = new DecisionStore(mkdtempSync(join(tmpdir(), 'ts-deliveries-')));
  const store = new DeliveryStore(decisions);
  store.enqueue([owed('otlp', kept(A)), owed('otlp', kept(B)), owed('debug', kept(B))], 1);
  assert.deepEqual([...store.release((id) => id === A)].sort(), [['debug', 1], ['otlp', 1]]);
  assert.deepEqual(store.due('otlp', 1, 10, new Set()).map((d) => d.traceId), [A]);
  assert.equal(store.backlog('debug'), 0);
  decisions.close();
});

test('one settle exports every trace it finishes, in the order they were settled, and only those', () => {
  const decisions = new DecisionStore(mkdtempSync(join(tmpdir(), 'ts-deliveries-')));
  const store = new DeliveryStore(decisions);
  const C = 'c'.repeat(32);
  decisions.record([kept(A), kept(B), kept(C)]);
  store.enqueue([owed('otlp', kept(A)), owed('otlp', kept(B)), owed('otlp', kept(C)), owed('debug', kept(C))], 1);
  const settled = store.settle({ delivered: [owed('otlp', kept(B)), owed('otlp', kept(C)), owed('otlp', kept(A))] }, 2);
  assert.deepEqual(settled.exported.map((d) => [d.traceId, d.exported]), [[B, true], [A, true]], 'C still owed to debug');
  assert.deepEqual(store.settle({ delivered: [owed('otlp', kept(A))] }, 3), { removed: new Map(), exported: [] }, 'settled twice: nothing more');
  decisions.close();
});

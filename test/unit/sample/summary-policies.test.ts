import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samplerFor, summaryOnly, trace } from './helpers.ts';

const MS = 1_000_000n;

test('latency without upper bound keeps traces of at least threshold_ms (max end − min start)', () => {
  const s = samplerFor([{ name: 'slow', type: 'latency', latency: { threshold_ms: 100 } }]);
  assert.deepEqual(s.requiredColumns, []);
  // Two 60 ms spans 40 ms apart: the trace lasts 100 ms though no span does.
  const t = trace([
    { startNs: 0n, endNs: 60n * MS },
    { startNs: 40n * MS, endNs: 100n * MS },
  ]);
  assert.deepEqual(s.decide(summaryOnly(t), 0), { keep: true, policy: 'slow', threshold: '0' });
  assert.equal(s.decide(summaryOnly(trace([{ startNs: 0n, endNs: 100n * MS - 1n }])), 0).keep, false);
});

test('latency with upper bound is (threshold_ms, upper_threshold_ms]', () => {
  const s = samplerFor([{ name: 'l', type: 'latency', latency: { threshold_ms: 100, upper_threshold_ms: 200 } }]);
  const d = (ms: bigint) => s.decide(summaryOnly(trace([{ startNs: 0n, endNs: ms * MS }])), 0).keep;
  assert.equal(d(100n), false);
  assert.equal(d(101n), true);
  assert.equal(d(200n), true);
  assert.equal(d(201n), false);
});

test('status_code ERROR needs only the summary', () => {
  const s = samplerFor([{ name: 'e', type: 'status_code', status_code: { status_codes: ['ERROR'] } }]);
  assert.deepEqual(s.requiredColumns, []);
  assert.equal(s.decide(summaryOnly(trace([{}, { status: 2 }])), 0).keep, true);
  assert.equal(s.decide(summaryOnly(trace([{ status: 1 }])), 0).keep, false);
});

test('status_code OK/UNSET reads the status_code column', () => {
  const s = samplerFor([{ name: 'ok', type: 'status_code', status_code: { status_codes: ['OK'] } }]);
  assert.deepEqual(s.requiredColumns, ['status_code']);
  assert.equal(s.decide(trace([{ status: 0 }, { status: 1 }]), 0).keep, true);
  assert.equal(s.decide(trace([{ status: 0 }, { status: 2 }]), 0).keep, false);
  const u = samplerFor([{ name: 'u', type: 'status_code', status_code: { status_codes: ['ERROR', 'UNSET'] } }]);
  assert.equal(u.decide(trace([{ status: 1 }]), 0).keep, false);
  assert.equal(u.decide(trace([{ status: 1 }, { status: 0 }]), 0).keep, true);
});

test('span_count is inclusive, max_spans 0 = unbounded', () => {
  const s = samplerFor([{ name: 'c', type: 'span_count', span_count: { min_spans: 2, max_spans: 3 } }]);
  const n = (k: number) => s.decide(summaryOnly(trace(Array.from({ length: k }, () => ({})))), 0).keep;
  assert.deepEqual([n(1), n(2), n(3), n(4)], [false, true, true, false]);
  const open = samplerFor([{ name: 'c', type: 'span_count', span_count: { min_spans: 2 } }]);
  assert.equal(open.decide(summaryOnly(trace(Array.from({ length: 500 }, () => ({})))), 0).keep, true);
});

test('trace_state matches a member value exactly on any span', () => {
  const s = samplerFor([{ name: 't', type: 'trace_state', trace_state: { key: 'vendor', values: ['gold', 'silver'] } }]);
  assert.deepEqual(s.requiredColumns, ['trace_state']);
  assert.equal(s.decide(trace([{}, { traceState: 'ot=th:0,vendor=gold' }]), 0).keep, true);
  assert.equal(s.decide(trace([{ traceState: 'vendor=golden' }]), 0).keep, false);
  assert.equal(s.decide(trace([{ traceState: 'othervendor=gold' }]), 0).keep, false);
});

test('always_sample keeps everything with probability 1', () => {
  const s = samplerFor([{ name: 'all', type: 'always_sample' }]);
  assert.deepEqual(s.decide(summaryOnly(trace([{}])), 0), { keep: true, policy: 'all', threshold: '0' });
});

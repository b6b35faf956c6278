import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samplerFor, summaryOnly, trace, traceIdWithRandomness } from './helpers.ts';

const errorPolicy = { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } };
const health = (extra: object = {}) => ({
  name: 'not-health',
  type: 'string_attribute',
  string_attribute: { key: 'http.route', values: ['/health'], ...extra },
});
const always = { name: 'all', type: 'always_sample' };

test('a drop policy wins over every sampling vote and is named, whatever its position', () => {
  const s = samplerFor([
    always,
    errorPolicy,
    { name: 'drop-health', type: 'drop', drop: { drop_sub_policy: [{ ...health(), name: 'h' }] } },
  ]);
  assert.deepEqual(s.decide(trace([{ status: 2, attrs: { 'http.route': '/health' } }]), 0), {
    keep: false,
    policy: 'drop-health',
    threshold: null,
  });
  assert.deepEqual(s.decide(trace([{ attrs: { 'http.route': '/cart' } }]), 0), { keep: true, policy: 'all', threshold: '0' });
  assert.deepEqual(s.policyNames, ['all', 'errors', 'drop-health']);
});

test('drop needs every sub-policy to match', () => {
  const s = samplerFor([
    always,
    { name: 'd', type: 'drop', drop: { drop_sub_policy: [{ ...health(), name: 'h' }, { ...errorPolicy, name: 'e' }] } },
  ]);
  assert.equal(s.decide(trace([{ attrs: { 'http.route': '/health' } }]), 0).keep, true);
  assert.equal(s.decide(trace([{ status: 2, attrs: { 'http.route': '/health' } }]), 0).keep, false);
});

test('InvertNotSampled vetoes a Sampled vote from another policy', () => {
  const s = samplerFor([errorPolicy, health({ invert_match: true })]);
  assert.deepEqual(s.decide(trace([{ status: 2, attrs: { 'http.route': '/health' } }]), 0), {
    keep: false,
    policy: 'not-health',
    threshold: null,
  });
});

test('InvertSampled keeps only when no policy voted NotSampled', () => {
  const s = samplerFor([errorPolicy, health({ invert_match: true })]);
  // errors says NotSampled, so the invert match alone does not keep the trace.
  assert.deepEqual(s.decide(trace([{ attrs: { 'http.route': '/cart' } }]), 0), { keep: false, policy: '', threshold: null });
  const alone = samplerFor([health({ invert_match: true })]);
  assert.deepEqual(alone.decide(trace([{ attrs: { 'http.route': '/cart' } }]), 0), { keep: true, policy: 'not-health', threshold: '0' });
});

test('the first Sampled policy in configured order is named', () => {
  const s = samplerFor([{ name: 'slow', type: 'latency', latency: { threshold_ms: 1 } }, errorPolicy]);
  assert.equal(s.decide(trace([{ status: 2, startNs: 0n, endNs: 10_000_000n }]), 0).policy, 'slow');
  assert.equal(s.decide(trace([{ status: 2, startNs: 0n, endNs: 10n }]), 0).policy, 'errors');
});

test('the kept threshold is the smallest over the policies that kept the trace', () => {
  const r = traceIdWithRandomness(0xf0000000000000n);
  const p = (name: string, pct: number) => ({ name, type: 'probabilistic', probabilistic: { sampling_percentage: pct } });
  assert.equal(samplerFor([p('a', 25), p('b', 50)]).decide(summaryOnly(trace([{}], r)), 0).threshold, '8');
  assert.equal(samplerFor([p('a', 25), errorPolicy]).decide(summaryOnly(trace([{ status: 2 }], r)), 0).threshold, '0');
  // A rate-limited keep makes the probability unknown, unless a certain keep is also there.
  const rate = { name: 'r', type: 'rate_limiting', rate_limiting: { spans_per_second: 100 } };
  assert.equal(samplerFor([p('a', 25), rate]).decide(summaryOnly(trace([{}], r)), 0).threshold, null);
  assert.equal(samplerFor([errorPolicy, rate]).decide(summaryOnly(trace([{ status: 2 }], r)), 0).threshold, '0');
});

test('and: all sub-policies must sample, and the strictest threshold applies', () => {
  const s = samplerFor([
    {
      name: 'errors-25pct',
      type: 'and',
      and: {
        and_sub_policy: [
          { ...errorPolicy, name: 'e' },
          { name: 'p', type: 'probabilistic', probabilistic: { sampling_percentage: 25 } },
        ],
      },
    },
  ]);
  const kept = traceIdWithRandomness(0xc0000000000000n);
  const cut = traceIdWithRandomness(0xbfffffffffffffn);
  assert.deepEqual(s.decide(trace([{ status: 2 }], kept), 0), { keep: true, policy: 'errors-25pct', threshold: 'c' });
  assert.equal(s.decide(trace([{ status: 2 }], cut), 0).keep, false);
  assert.equal(s.decide(trace([{}], kept), 0).keep, false);
  // An invert_match sub-policy that matches makes the whole and NotSampled (not a veto of others).
  const withInvert = samplerFor([
    always,
    { name: 'a', type: 'and', and: { and_sub_policy: [{ ...health({ invert_match: true }), name: 'h' }] } },
  ]);
  assert.equal(withInvert.decide(trace([{ attrs: { 'http.route': '/health' } }]), 0).keep, true);
});

test('not inverts its sub-policy', () => {
  const s = samplerFor([{ name: 'no-errors', type: 'not', not: { not_sub_policy: { ...errorPolicy, name: 'e' } } }]);
  assert.deepEqual(s.decide(summaryOnly(trace([{}])), 0), { keep: true, policy: 'no-errors', threshold: '0' });
  assert.equal(s.decide(summaryOnly(trace([{ status: 2 }])), 0).keep, false);
});

test('requiredColumns is the union over nested policies', () => {
  const s = samplerFor([
    { name: 'l', type: 'latency', latency: { threshold_ms: 5 } },
    { name: 'a', type: 'and', and: { and_sub_policy: [{ name: 't', type: 'trace_state', trace_state: { key: 'k', values: ['v'] } }] } },
    { name: 'd', type: 'drop', drop: { drop_sub_policy: [{ ...health(), name: 'h' }] } },
  ]);
  assert.deepEqual([...s.requiredColumns].sort(), ['attributes', 'resource', 'trace_state']);
});

test('with no policy voting to sample, nothing is kept and no policy is named', () => {
  const s = samplerFor([errorPolicy]);
  assert.deepEqual(s.decide(summaryOnly(trace([{}])), 0), { keep: false, policy: '', threshold: null });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSampler } from '../../../src/sample/build-sampler.ts';
import { policyListSchema } from '../../../src/sample/policies/config.ts';
import type { SamplingConfig } from '../../../src/config/schema.ts';
import { samplerDeps, summaryOnly, trace, traceIdWithRandomness } from './helpers.ts';

const base: SamplingConfig = { sample_errors: true, error_sample_rate: 1, sample_latency: true, latency_threshold_ms: 1000, policies: [] };
const slow = summaryOnly(trace([{ startNs: 0n, endNs: 1_000_000_000n }]));
const fast = summaryOnly(trace([{ startNs: 0n, endNs: 999_999_999n }]));
const error = summaryOnly(trace([{ status: 2 }]));

test('with no policies, sample_errors and sample_latency become named policies', () => {
  const s = buildSampler(base, samplerDeps());
  assert.deepEqual(s.policyNames, ['sample_errors', 'sample_latency']);
  assert.deepEqual(s.requiredColumns, []);
  assert.deepEqual(s.decide(error, 0), { keep: true, policy: 'sample_errors', threshold: '0' });
  assert.deepEqual(s.decide(slow, 0), { keep: true, policy: 'sample_latency', threshold: '0' });
  assert.equal(s.decide(fast, 0).keep, false);
});

test('error_sample_rate keeps errors by consistent probability on the trace randomness', () => {
  const s = buildSampler({ ...base, error_sample_rate: 0.25, sample_latency: false }, samplerDeps());
  const kept = summaryOnly(trace([{ status: 2 }], traceIdWithRandomness(0xc0000000000000n)));
  const cut = summaryOnly(trace([{ status: 2 }], traceIdWithRandomness(0xbfffffffffffffn)));
  assert.deepEqual(s.decide(kept, 0), { keep: true, policy: 'sample_errors', threshold: 'c' });
  assert.equal(s.decide(cut, 0).keep, false);
  assert.deepEqual(s.requiredColumns, ['trace_state']);
});

test('disabled shorthands keep nothing', () => {
  const s = buildSampler({ ...base, sample_errors: false, sample_latency: false }, samplerDeps());
  assert.deepEqual(s.policyNames, []);
  assert.equal(s.decide(error, 0).keep, false);
  assert.equal(s.decide(slow, 0).keep, false);
});

test('a non-empty policies list alone decides: the shorthands do not widen it (otelcol first)', () => {
  const s = buildSampler({ ...base, policies: policyListSchema.parse([{ name: 'only-ok', type: 'status_code', status_code: { status_codes: ['OK'] } }]) }, samplerDeps());
  assert.deepEqual(s.policyNames, ['only-ok']);
  assert.equal(s.decide(trace([{ status: 2, startNs: 0n, endNs: 5_000_000_000n }]), 0).keep, false);
  assert.equal(s.decide(trace([{ status: 1 }]), 0).keep, true);
});

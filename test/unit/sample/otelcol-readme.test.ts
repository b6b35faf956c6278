import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { configSchema } from '../../../src/config/schema.ts';
import { buildSampler } from '../../../src/sample/build-sampler.ts';
import { policyListSchema } from '../../../src/sample/policies/config.ts';
import { probabilityToThreshold, thresholdToHex } from '../../../src/sample/threshold.ts';
import { samplerDeps, trace, traceIdWithRandomness } from './helpers.ts';

/**
 * The "A Practical Example" policies of the otelcol tailsamplingprocessor README, pasted as is
 * (flow-style YAML and comments included), except rule 7: the README writes its boolean policy's
 * block as `string_attribute:`, which otelcol's decoder rejects too; we check that we reject it and
 * then use the corrected `boolean_attribute:`.
 */
const PRACTICAL = `
policies: [
    {
      # Rule 1: use always_sample policy for services that don't belong to team_a and are not ready to use tail sampling
      name: backwards-compatibility-policy,
      type: and,
      and:
        {
          and_sub_policy:
            [
              {
                name: services-using-tail_sampling-policy,
                type: string_attribute,
                string_attribute:
                  {
                    key: service.name,
                    values: [list, of, services, using, tail_sampling],
                    invert_match: true,
                  },
              },
              { name: sample-all-policy, type: always_sample },
            ],
        },
    },
    {
      # Rule 2: low sampling for readiness/liveness probes
      name: team_a-probe,
      type: and,
      and:
        {
          and_sub_policy:
            [
              { name: service-name-policy, type: string_attribute, string_attribute: { key: service.name, values: [service-1, service-2, service-3] } },
              { name: route-live-ready-policy, type: string_attribute, string_attribute: { key: http.route, values: [/live, /ready], enabled_regex_matching: true } },
              { name: probabilistic-policy, type: probabilistic, probabilistic: { sampling_percentage: 0.1 } },
            ],
        },
    },
    {
      # Rule 3: low sampling for a noisy endpoint
      name: team_a-noisy-endpoint-1,
      type: and,
      and:
        {
          and_sub_policy:
            [
              { name: service-name-policy, type: string_attribute, string_attribute: { key: service.name, values: [service-1] } },
              { name: route-name-policy, type: string_attribute, string_attribute: { key: http.route, values: [/v1/name/.+], enabled_regex_matching: true } },
              { name: probabilistic-policy, type: probabilistic, probabilistic: { sampling_percentage: 1 } },
            ],
        },
    },
    {
      # Rule 4: high sampling for other endpoints
      name: team_a-service-1,
      type: and,
      and:
        {
          and_sub_policy:
            [
              { name: service-name-policy, type: string_attribute, string_attribute: { key: service.name, values: [service-1] } },
              {
                # invert match - apply to all routes except the ones specified
                name: route-name-policy,
                type: string_attribute,
                string_attribute: { key: http.route, values: [/v1/name/.+], enabled_regex_matching: true, invert_match: true },
              },
              { name: probabilistic-policy, type: probabilistic, probabilistic: { sampling_percentage: 100 } },
            ],
        },
    },
    {
      # Rule 5: always sample if there is an error
      name: team_a-status-policy,
      type: and,
      and:
        {
          and_sub_policy:
            [
              { name: service-name-policy, type: string_attribute, string_attribute: { key: service.name, values: [list, of, services, using, tail_sampling] } },
              { name: trace-status-policy, type: status_code, status_code: { status_codes: [ERROR] } },
            ],
        },
    },
    {
      # Rule 6:
      # always sample if the force_sample attribute is set to true
      name: team_a-force-sample,
      type: boolean_attribute,
      boolean_attribute: { key: app.force_sample, value: true },
    },
    {
      # Rule 7:
      # never sample if the do_not_sample attribute is set to true
      name: do-not-sample,
      type: drop,
      drop: {
        drop_sub_policy:
          [
            {
              name: team_a-do-not-sample,
              type: boolean_attribute,
              string_attribute: { key: app.do_not_sample, value: true }
            }
          ]
      }
    },
  ]
`;

// Also fill in the README's placeholder list of team_a's services, as a user would.
const FIXED = PRACTICAL.replace('string_attribute: { key: app.do_not_sample', 'boolean_attribute: { key: app.do_not_sample').replaceAll(
  '[list, of, services, using, tail_sampling]',
  '[service-1, service-2, service-3]',
);

test('the README example as printed is rejected at rule 7, with the path', () => {
  const r = configSchema.safeParse({ sampling: parse(PRACTICAL) as unknown });
  assert.equal(r.success, false);
  const paths = r.error.issues.map((i) => i.path.join('.'));
  assert.ok(paths.includes('sampling.policies.6.drop.drop_sub_policy.0'), paths.join('\n'));
  assert.ok(r.error.issues.some((i) => i.message.includes('string_attribute')));
});

test('the corrected README example validates and decides as otelcol would', () => {
  const cfg = configSchema.parse({ sampling: parse(FIXED) as unknown });
  const s = buildSampler(cfg.sampling, samplerDeps());
  assert.deepEqual(s.policyNames.length, 7);
  const svc = (name: string, attrs: Record<string, string | boolean> = {}, status = 0) => ({ resource: { 'service.name': name }, attrs, status });
  const R_MAX = traceIdWithRandomness((1n << 56n) - 1n);
  const R_MIN = traceIdWithRandomness(0n);

  // Rule 1: a team not in the list is kept in full (invert match inside and).
  assert.deepEqual(s.decide(trace([svc('billing')]), 0), { keep: true, policy: 'backwards-compatibility-policy', threshold: '0' });
  // Rule 3: service-1's noisy endpoint at 1%, decided by the trace randomness.
  assert.deepEqual(s.decide(trace([svc('service-1', { 'http.route': '/v1/name/42' })], R_MAX), 0), {
    keep: true,
    policy: 'team_a-noisy-endpoint-1',
    threshold: thresholdToHex(probabilityToThreshold(0.01)),
  });
  assert.equal(s.decide(trace([svc('service-1', { 'http.route': '/v1/name/42' })], R_MIN), 0).keep, false);
  // Rule 4: service-1's other endpoints at 100%.
  assert.deepEqual(s.decide(trace([svc('service-1', { 'http.route': '/v1/orders' })], R_MIN), 0), {
    keep: true,
    policy: 'team_a-service-1',
    threshold: '0',
  });
  // Rule 2: probes at 0.1%.
  assert.equal(s.decide(trace([svc('service-2', { 'http.route': '/ready' })], R_MIN), 0).keep, false);
  assert.equal(s.decide(trace([svc('service-2', { 'http.route': '/ready' })], R_MAX), 0).policy, 'team_a-probe');
  // Rule 5: errors of listed services.
  assert.equal(s.decide(trace([svc('service-3', {}, 0), svc('service-3', {}, 2)]), 0).policy, 'team_a-status-policy');
  assert.equal(s.decide(trace([svc('service-3')]), 0).keep, false);
  // Rule 6: the escape hatch, on any span.
  assert.equal(s.decide(trace([svc('service-3'), svc('service-3', { 'app.force_sample': true })]), 0).policy, 'team_a-force-sample');
  // Rule 7: do_not_sample beats every other rule.
  assert.deepEqual(s.decide(trace([svc('service-3', { 'app.force_sample': true, 'app.do_not_sample': true }, 2)]), 0), {
    keep: false,
    policy: 'do-not-sample',
    threshold: null,
  });
  assert.deepEqual([...s.requiredColumns].sort(), ['attributes', 'resource', 'trace_state']);
});

/** The README's first example list, minus its ottl_condition entry (checked separately). */
const FIRST = `
policies:
  [
    { name: test-policy-1, type: always_sample },
    { name: test-policy-2, type: latency, latency: {threshold_ms: 5000, upper_threshold_ms: 10000} },
    { name: test-policy-3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100} },
    { name: test-policy-4, type: probabilistic, probabilistic: {sampling_percentage: 10} },
    { name: test-policy-5, type: status_code, status_code: {status_codes: [ERROR, UNSET]} },
    { name: test-policy-6, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]} },
    { name: test-policy-7, type: string_attribute, string_attribute: {key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10} },
    { name: test-policy-8, type: rate_limiting, rate_limiting: {spans_per_second: 35} },
    { name: test-policy-9, type: span_count, span_count: {min_spans: 2, max_spans: 20} },
    { name: test-policy-10, type: trace_state, trace_state: { key: key3, values: [value1, value2] } },
    { name: test-policy-11, type: boolean_attribute, boolean_attribute: {key: key4, value: true} },
    { name: and-policy-1, type: and, and: { and_sub_policy: [
        { name: test-and-policy-1, type: numeric_attribute, numeric_attribute: { key: key1, min_value: 50, max_value: 100 } },
        { name: test-and-policy-2, type: string_attribute, string_attribute: { key: key2, values: [ value1, value2 ] } },
      ] } },
    { name: drop-policy-1, type: drop, drop: { drop_sub_policy: [
        { name: test-drop-policy-1, type: string_attribute, string_attribute: {key: url.path, values: [\\/health, \\/metrics], enabled_regex_matching: true} }
      ] } },
    { name: composite-policy-1, type: composite, composite: {
        max_total_spans_per_second: 1000,
        policy_order: [test-composite-policy-1, test-composite-policy-2, test-composite-policy-3],
        composite_sub_policy: [
          { name: test-composite-policy-1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50} },
          { name: test-composite-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]} },
          { name: test-composite-policy-3, type: always_sample }
        ],
        rate_allocation: [ { policy: test-composite-policy-1, percent: 50 }, { policy: test-composite-policy-2, percent: 25 } ]
      } },
  ]
`;

test("the README's first example validates; its drop policy overrides always_sample", () => {
  const policies = policyListSchema.parse((parse(FIRST) as { policies: unknown }).policies);
  const s = buildSampler({ sample_errors: true, error_sample_rate: 1, sample_latency: true, latency_threshold_ms: 1, policies }, samplerDeps());
  assert.equal(s.policyNames.length, 14);
  assert.deepEqual(s.decide(trace([{ attrs: { 'url.path': '/api/health' } }]), 0), { keep: false, policy: 'drop-policy-1', threshold: null });
  assert.deepEqual(s.decide(trace([{ attrs: { 'url.path': '/api/orders' } }]), 0), { keep: true, policy: 'test-policy-1', threshold: '0' });
});

test("the README's ottl_condition entry is reported as not supported", () => {
  const ottl = `
policies:
  - name: test-policy-12
    type: ottl_condition
    ottl_condition:
      error_mode: ignore
      span: ['attributes["test_attr_key_1"] == "test_attr_val_1"']
`;
  const r = policyListSchema.safeParse((parse(ottl) as { policies: unknown }).policies);
  assert.equal(r.success, false);
  assert.match(r.error.issues[0]!.message, /ottl_condition is not supported/);
  assert.deepEqual(r.error.issues[0]!.path, [0, 'type']);
});

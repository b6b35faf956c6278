import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.ts';
import { policyListSchema } from '../../../src/sample/policies/config.ts';

/** The loader's error text for a `sampling.policies` list given as YAML. */
function rejection(policiesYaml: string): string {
  try {
    parseConfig(`sampling:\n  policies:\n${policiesYaml}`, 'inline', {});
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('expected the config to be rejected');
}

test('dynamic: the README example validates and gets Refinery defaults', () => {
  const config = parseConfig(
    `sampling:
  policies:
    - name: keep-errors
      type: status_code
      status_code: { status_codes: [ERROR] }
    - name: by-route
      type: dynamic
      dynamic:
        key_fields: [service.name, http.route, span.status]
        goal_throughput_per_sec: 200
`,
    'inline',
    {},
  );
  const p = config.sampling.policies[1]!;
  assert.ok(p.type === 'dynamic');
  assert.deepEqual(p.dynamic, {
    key_fields: ['service.name', 'http.route', 'span.status'],
    goal_throughput_per_sec: 200,
    adjustment_interval_secs: 30,
    weight: 0.5,
    burst_multiple: 2,
    burst_detection_delay: 3,
    initial_sample_rate: 10,
    max_keys: 500,
    overflow_sample_rate: 1,
  });
  // Allowed wherever a leaf policy is, e.g. under `and`.
  policyListSchema.parse([{ name: 'a', type: 'and', and: { and_sub_policy: [{ name: 'd', type: 'dynamic', dynamic: { key_fields: ['span.name'], goal_throughput_per_sec: 1 } }] } }]);
});

test('dynamic: every invalid setting is reported with its path', () => {
  const msg = rejection(`    - name: d
      type: dynamic
      dynamic:
        key_fields: [service.name, "", service.name]
        goal_throughput_per_sec: 0
        weight: 1
        adjustment_interval_secs: 0
        burst_multiple: -1
        initial_sample_rate: 0.5
        max_keys: 0
        overflow_sample_rate: 0
        age_out_value: 0
        sample_rate: 3
`);
  for (const [path, word] of [
    ['sampling.policies[0].dynamic.key_fields[1]', 'empty'],
    ['sampling.policies[0].dynamic.key_fields[2]', 'duplicate'],
    ['sampling.policies[0].dynamic.goal_throughput_per_sec', 'greater than 0'],
    ['sampling.policies[0].dynamic.weight', 'between 0 and 1'],
    ['sampling.policies[0].dynamic.adjustment_interval_secs', 'at least 1'],
    ['sampling.policies[0].dynamic.burst_multiple', 'disables'],
    ['sampling.policies[0].dynamic.initial_sample_rate', 'at least 1'],
    ['sampling.policies[0].dynamic.max_keys', 'at least 1'],
    ['sampling.policies[0].dynamic.overflow_sample_rate', 'at least 1'],
    ['sampling.policies[0].dynamic.age_out_value', 'greater than 0'],
    ['sampling.policies[0].dynamic', 'sample_rate'],
  ] as const) {
    assert.ok(
      msg.split('\n').some((l) => l.includes(path) && l.includes(word)),
      `no error at ${path} mentioning "${word}" in:\n${msg}`,
    );
  }
});

test('dynamic: key_fields and goal_throughput_per_sec are required', () => {
  const msg = rejection(`    - name: d
      type: dynamic
      dynamic: {}
`);
  assert.match(msg, /sampling\.policies\[0\]\.dynamic\.key_fields/);
  assert.match(msg, /sampling\.policies\[0\]\.dynamic\.goal_throughput_per_sec/);
  assert.match(rejection(`    - { name: d, type: dynamic, dynamic: { key_fields: [], goal_throughput_per_sec: 1 } }\n`), /key_fields.*at least one/);
});

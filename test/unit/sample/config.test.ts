import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.ts';
import { policyListSchema } from '../../../src/sample/policies/config.ts';

/** Issues as `path: message`, with the config loader's path notation. */
function issues(policies: unknown[]): string[] {
  const r = configSchema.safeParse({ sampling: { policies } });
  assert.equal(r.success, false, 'expected the config to be rejected');
  return r.error.issues.map((i) => {
    let p = '';
    for (const k of i.path) p += typeof k === 'number' ? `[${k}]` : p === '' ? String(k) : `.${String(k)}`;
    return `${p}: ${i.message}`;
  });
}

const has = (list: string[], prefix: string, word?: string) =>
  assert.ok(
    list.some((l) => l.startsWith(prefix) && (word === undefined || l.includes(word))),
    `no issue at ${prefix}${word ? ` mentioning ${word}` : ''} in:\n${list.join('\n')}`,
  );

test('every policy type validates with otelcol keys, and defaults are filled', () => {
  const parsed = policyListSchema.parse([
    { name: 'a', type: 'always_sample' },
    { name: 'b', type: 'latency', latency: { threshold_ms: 5000, upper_threshold_ms: 10000 } },
    { name: 'c', type: 'numeric_attribute', numeric_attribute: { key: 'k', min_value: 50, max_value: 100 } },
    { name: 'd', type: 'probabilistic', probabilistic: { hash_salt: 's', sampling_percentage: 10 } },
    { name: 'e', type: 'status_code', status_code: { status_codes: ['ERROR', 'UNSET'] } },
    { name: 'f', type: 'string_attribute', string_attribute: { key: 'k', values: ['v', 'w*'], enabled_regex_matching: true, cache_max_size: 10 } },
    { name: 'g', type: 'rate_limiting', rate_limiting: { spans_per_second: 35 } },
    { name: 'h', type: 'bytes_limiting', bytes_limiting: { bytes_per_second: 1000, burst_capacity: 5000 } },
    { name: 'i', type: 'span_count', span_count: { min_spans: 2, max_spans: 20 } },
    { name: 'j', type: 'trace_state', trace_state: { key: 'k', values: ['v'] } },
    { name: 'k', type: 'boolean_attribute', boolean_attribute: { key: 'k', value: true, invert_match: true } },
    { name: 'l', type: 'not', not: { not_sub_policy: { name: 'x', type: 'always_sample' } } },
    { name: 'm', type: 'and', and: { and_sub_policy: [{ name: 'x', type: 'always_sample' }] } },
    { name: 'n', type: 'drop', drop: { drop_sub_policy: [{ name: 'x', type: 'always_sample' }] } },
    {
      name: 'o',
      type: 'composite',
      composite: {
        max_total_spans_per_second: 100,
        policy_order: ['x'],
        composite_sub_policy: [{ name: 'x', type: 'and', and: { and_sub_policy: [{ name: 'y', type: 'always_sample' }] } }],
        rate_allocation: [{ policy: 'x', percent: 100 }],
      },
    },
  ]);
  assert.equal(parsed.length, 15);
  const str = parsed[5]!;
  assert.ok(str.type === 'string_attribute' && str.string_attribute.invert_match === false);
  const span = parsed[8]!;
  assert.ok(span.type === 'span_count' && span.span_count.max_spans === 20);
});

test('errors carry the full path from the config root', () => {
  const list = issues([
    { name: 'ok', type: 'always_sample' },
    { name: 'fast', type: 'latency', latency: { threshold_ms: 10 } },
    { name: 'bad', type: 'latency', latency: { threshold_ms: -5 } },
  ]);
  has(list, 'sampling.policies[2].latency.threshold_ms');
});

test('unknown keys, and a block of another type, are rejected with their path', () => {
  has(issues([{ name: 'x', type: 'latency', latency: { threshold_ms: 1, treshold: 2 } }]), 'sampling.policies[0].latency', 'treshold');
  has(
    issues([{ name: 'x', type: 'boolean_attribute', string_attribute: { key: 'k', value: true } }]),
    'sampling.policies[0]',
    'string_attribute',
  );
  has(issues([{ name: 'x', type: 'bogus' }]), 'sampling.policies[0].type');
});

test('ottl_condition is rejected as not supported, at any depth', () => {
  has(issues([{ name: 'o', type: 'ottl_condition', ottl_condition: { span: ['true'] } }]), 'sampling.policies[0].type', 'not supported');
  has(
    issues([{ name: 'a', type: 'and', and: { and_sub_policy: [{ name: 'o', type: 'ottl_condition' }] } }]),
    'sampling.policies[0].and.and_sub_policy[0].type',
    'not supported',
  );
});

test('cross-checks: unique names, policy_order and rate_allocation names, percentages, regexes', () => {
  has(issues([{ name: 'x', type: 'always_sample' }, { name: 'x', type: 'always_sample' }]), 'sampling.policies[1].name', 'duplicate');
  const composite = (c: object) => issues([{ name: 'c', type: 'composite', composite: { max_total_spans_per_second: 10, composite_sub_policy: [{ name: 'a', type: 'always_sample' }], ...c } }]);
  has(composite({ policy_order: ['a', 'zz'] }), 'sampling.policies[0].composite.policy_order[1]', 'zz');
  has(composite({ rate_allocation: [{ policy: 'zz', percent: 10 }] }), 'sampling.policies[0].composite.rate_allocation[0].policy');
  has(composite({ rate_allocation: [{ policy: 'a', percent: 101 }] }), 'sampling.policies[0].composite.rate_allocation[0].percent');
  has(
    issues([{ name: 'c', type: 'composite', composite: { max_total_spans_per_second: 10, composite_sub_policy: [{ name: 'a', type: 'always_sample' }, { name: 'b', type: 'always_sample' }], rate_allocation: [{ policy: 'a', percent: 60 }, { policy: 'b', percent: 50 }] } }]),
    'sampling.policies[0].composite.rate_allocation',
    '110',
  );
  has(issues([{ name: 'p', type: 'probabilistic', probabilistic: { sampling_percentage: 150 } }]), 'sampling.policies[0].probabilistic.sampling_percentage');
  has(
    issues([{ name: 's', type: 'string_attribute', string_attribute: { key: 'k', values: ['ok', '(unclosed'], enabled_regex_matching: true } }]),
    'sampling.policies[0].string_attribute.values[1]',
    'regular expression',
  );
  has(issues([{ name: 's', type: 'status_code', status_code: { status_codes: ['FAILED'] } }]), 'sampling.policies[0].status_code.status_codes[0]');
  has(issues([{ name: 'n', type: 'numeric_attribute', numeric_attribute: { key: 'k' } }]), 'sampling.policies[0].numeric_attribute', 'min_value');
  has(issues([{ name: 'l', type: 'latency', latency: { threshold_ms: 10, upper_threshold_ms: 5 } }]), 'sampling.policies[0].latency.upper_threshold_ms');
});

test('nesting follows otelcol: no drop or composite inside and, not wraps one leaf', () => {
  has(issues([{ name: 'a', type: 'and', and: { and_sub_policy: [{ name: 'd', type: 'drop', drop: { drop_sub_policy: [{ name: 'x', type: 'always_sample' }] } }] } }]), 'sampling.policies[0].and.and_sub_policy[0].type');
  has(issues([{ name: 'n', type: 'not', not: { not_sub_policy: [{ name: 'x', type: 'always_sample' }] } }]), 'sampling.policies[0].not.not_sub_policy');
  has(issues([{ name: 'a', type: 'and', and: { and_sub_policy: [] } }]), 'sampling.policies[0].and.and_sub_policy', 'at least one');
});

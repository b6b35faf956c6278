import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withForceRules } from '../../../../src/sample/rules/factory.ts';
import { policyLabel, RuleSet } from '../../../../src/sample/rules/force-rule-sampler.ts';
import type { ForceRule } from '../../../../src/sample/rules/rule-store.ts';
import { counterValue, samplerDeps, samplerFor, summaryOnly, TRACE_ID } from '../helpers.ts';
import { forceRule, ruleTrace } from './helpers.ts';

const T0 = 1_000_000;

function setup(policies: unknown[] = [{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }]) {
  const deps = samplerDeps();
  const source = { set: RuleSet.EMPTY, current() { return this.set; } };
  const sampler = withForceRules(samplerFor(policies, deps), source, deps);
  const use = (...rules: ForceRule[]) => void (source.set = RuleSet.of(rules));
  return { sampler, use, deps };
}

const ok = ruleTrace([{ service: 'checkout', attrs: { 'http.route': '/api/pay' } }]);
const failed = ruleTrace([{ service: 'checkout', status: 2, attrs: { 'http.route': '/health' } }]);

test('no rules: the policies decide and nothing beyond their columns is read', () => {
  const { sampler } = setup();
  assert.deepEqual(sampler.requiredColumns, []);
  assert.deepEqual(sampler.decide(summaryOnly(failed), T0), { keep: true, policy: 'errors', threshold: '0' });
  assert.deepEqual(sampler.decide(summaryOnly(ok), T0), { keep: false, policy: '', threshold: null });
});

test('a keep rule keeps what the policies would drop, a drop rule drops what they would keep, each named', () => {
  const { sampler, use } = setup();
  const keep = forceRule({ action: 'keep', match: { span: [{ key: 'http.route', op: 'prefix', value: '/api' }] } }, { id: 'k1', createdMs: T0 });
  const drop = forceRule({ action: 'drop', match: { span: [{ key: 'http.route', op: 'eq', value: '/health' }] } }, { id: 'd1', createdMs: T0 });
  use(keep, drop);
  assert.deepEqual(sampler.decide(ok, T0 + 1), { keep: true, policy: 'force_rule:k1', threshold: '0' });
  assert.deepEqual(sampler.decide(failed, T0 + 1), { keep: false, policy: 'force_rule:d1', threshold: null });
  assert.equal(policyLabel('force_rule:k1'), 'force_rule');
  assert.equal(policyLabel('errors'), 'errors');
});

test('requiredColumns: the policies\' plus what the rules in force read, recomputed as the set changes', () => {
  const { sampler, use } = setup([{ name: 'gold', type: 'string_attribute', string_attribute: { key: 'tier', values: ['gold'] } }]);
  const base = [...sampler.requiredColumns].sort();
  assert.deepEqual(base, ['attributes', 'resource']);
  use(forceRule({ match: { trace_id: TRACE_ID } }));
  assert.deepEqual([...sampler.requiredColumns].sort(), base, 'a trace id needs no column');
  use(forceRule({ match: { span: [{ key: 'kind', op: 'eq', value: 'server' }, { key: 'name', op: 'eq', value: 'x' }] } }));
  assert.deepEqual([...sampler.requiredColumns].sort(), ['attributes', 'operation_name', 'resource', 'span_kind']);
  use();
  assert.deepEqual([...sampler.requiredColumns].sort(), base);
});

test('order: higher priority first, then the older rule; disabled rules are not in force', () => {
  const { sampler, use } = setup();
  const any = { span: [{ key: 'service.name', op: 'eq', value: 'checkout' }] };
  const low = forceRule({ action: 'keep', priority: 1, match: any }, { id: 'low', createdMs: T0 - 10 });
  const highNew = forceRule({ action: 'drop', priority: 5, match: any }, { id: 'high-new', createdMs: T0 });
  const highOld = forceRule({ action: 'keep', priority: 5, match: any }, { id: 'high-old', createdMs: T0 - 5 });
  const disabled = forceRule({ action: 'drop', priority: 9, enabled: false, match: any }, { id: 'off', createdMs: T0 });
  use(low, highNew, highOld, disabled);
  assert.equal(sampler.decide(ok, T0).policy, 'force_rule:high-old');
  use(low, highNew);
  assert.equal(sampler.decide(ok, T0).policy, 'force_rule:high-new');
});

test('an expired rule stops deciding at its expiry, whatever the set still holds', () => {
  const { sampler, use } = setup();
  const r = forceRule({ action: 'drop', ttl_secs: 10, match: { trace_id: TRACE_ID } }, { id: 'short', createdMs: T0 });
  use(r);
  assert.equal(sampler.decide(failed, T0 + 9_999).policy, 'force_rule:short');
  assert.equal(sampler.decide(failed, T0 + 10_000).policy, 'errors');
  assert.equal(RuleSet.of([r]).inForce(T0 + 10_000), 0);
});

test('a rule whose columns the rows lack is skipped for that trace (it came into force after the read)', () => {
  const { sampler, use } = setup();
  use(forceRule({ action: 'keep', match: { span: [{ key: 'http.route', op: 'exists' }] } }, { id: 'late' }));
  assert.equal(sampler.decide(summaryOnly(ok), T0).policy, '');
  assert.equal(sampler.decide(ok, T0).policy, 'force_rule:late');
});

test('a rule that throws is counted as a failure of policy force_rule and the policies decide', async () => {
  const deps = samplerDeps();
  const set = RuleSet.of([forceRule({ action: 'drop', match: { span: [{ key: 'x', op: 'exists' }] } }, { id: 'bad' })]);
  (set.rules[0] as { matches: unknown }).matches = () => {
    throw new Error('boom');
  };
  const sampler = withForceRules(samplerFor([{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }], deps), { current: () => set }, deps);
  assert.equal(sampler.decide(failed, T0).policy, 'errors');
  assert.equal(await counterValue(deps.metrics.policyEvaluationErrors, { policy: 'force_rule' }), 1);
});

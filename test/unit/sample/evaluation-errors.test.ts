import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ColumnName } from '../../../src/lake/span-schema.ts';
import { AndPolicy } from '../../../src/sample/policies/and.ts';
import { buildEvaluator } from '../../../src/sample/policies/build-evaluator.ts';
import { policyListSchema } from '../../../src/sample/policies/config.ts';
import type { Decision, PolicyEvaluator } from '../../../src/sample/policies/decision.ts';
import { DropPolicy } from '../../../src/sample/policies/drop.ts';
import { AttributeKeys } from '../../../src/sample/policies/trace-view.ts';
import { PolicyEngine } from '../../../src/sample/policy-engine.ts';
import { SamplerTelemetry, type SamplerDeps } from '../../../src/sample/sampler-telemetry.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { captureLogger, counterValue, trace, TRACE_ID } from './helpers.ts';

/** A policy whose evaluation always throws, as a bug or unexpected data would make one. */
class Throwing implements PolicyEvaluator {
  readonly deterministic = true;
  readonly name: string;
  calls = 0;
  constructor(name: string) {
    this.name = name;
  }
  evaluate(): Decision {
    this.calls++;
    throw new Error(`${this.name} broke`);
  }
  collectColumns(_into: Set<ColumnName>): void {}
}

interface Built {
  engine: PolicyEngine;
  metrics: Metrics;
  lines: Record<string, unknown>[];
  clock: { ms: number };
}

/** An engine over `throwing` policies plus policies from otelcol YAML (as objects), in that order. */
function engine(throwing: PolicyEvaluator[], yamlPolicies: unknown[] = [], intervalMs = 60_000): Built {
  const metrics = new Metrics();
  const { logger, lines } = captureLogger();
  const clock = { ms: 1_000_000 };
  const deps: SamplerDeps = { metrics, logger, problemLogIntervalMs: intervalMs, now: () => clock.ms };
  const keys = new AttributeKeys();
  const policies = [...throwing, ...policyListSchema.parse(yamlPolicies).map((p) => buildEvaluator(p, keys))];
  const telemetry = new SamplerTelemetry(deps, policies.map((p) => p.name));
  return { engine: new PolicyEngine(policies, keys, telemetry), metrics, lines, clock };
}

const errors = (m: Metrics, policy: string) => counterValue(m.policyEvaluationErrors, { policy });
const ERRORS = { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } };

test('every failed evaluation is counted under its policy; every policy has a series from the start', async () => {
  const { engine: e, metrics } = engine([new Throwing('boom')], [ERRORS]);
  const series = (await metrics.policyEvaluationErrors.get()).values.map((v) => [v.labels.policy, v.value]);
  assert.deepEqual(series.sort(), [
    ['boom', 0],
    ['errors', 0],
  ]);
  for (let i = 0; i < 3; i++) e.decide(trace([{ status: 2 }]), 0);
  assert.equal(await errors(metrics, 'boom'), 3);
  assert.equal(await errors(metrics, 'errors'), 0);
});

test('a failed policy has no vote: the other policies decide, and with no vote at all nothing is kept', () => {
  const { engine: e } = engine([new Throwing('boom')], [ERRORS]);
  assert.deepEqual(e.decide(trace([{ status: 2 }]), 0), { keep: true, policy: 'errors', threshold: '0' });
  assert.deepEqual(e.decide(trace([{ status: 1 }]), 0), { keep: false, policy: '', threshold: null });
  const alone = engine([new Throwing('boom')]).engine;
  assert.deepEqual(alone.decide(trace([{ status: 2 }]), 0), { keep: false, policy: '', threshold: null });
});

test('a failed policy is not a NotSampled vote: an InvertSampled elsewhere still keeps, as in otelcol makeDecision', () => {
  const notHealth = { name: 'not-health', type: 'string_attribute', string_attribute: { key: 'http.route', values: ['/health'], invert_match: true } };
  const t = trace([{ attrs: { 'http.route': '/cart' } }]);
  const failing = engine([new Throwing('boom')], [notHealth]).engine;
  assert.deepEqual(failing.decide(t, 0), { keep: true, policy: 'not-health', threshold: '0' });
  // A real NotSampled vote in the same place does block the InvertSampled keep.
  const okOnly = { name: 'ok-only', type: 'status_code', status_code: { status_codes: ['OK'] } };
  assert.equal(engine([], [okOnly, notHealth]).engine.decide(t, 0).keep, false);
});

test('a drop policy that fails drops nothing, and the policies after it still run', async () => {
  const boom = new Throwing('inner');
  const { engine: e, metrics } = engine([new DropPolicy('drop-broken', [boom])], [ERRORS]);
  assert.deepEqual(e.decide(trace([{ status: 2 }]), 0), { keep: true, policy: 'errors', threshold: '0' });
  assert.equal(await errors(metrics, 'drop-broken'), 1);
});

test('a sub-policy error fails its top-level policy and is counted under the top-level name', async () => {
  const inner = new Throwing('inner');
  const { engine: e, metrics } = engine([new AndPolicy('combo', [inner])], [ERRORS]);
  assert.equal(e.decide(trace([{ status: 2 }]), 0).policy, 'errors');
  assert.equal(inner.calls, 1);
  assert.equal(await errors(metrics, 'combo'), 1);
  assert.equal(await errors(metrics, 'inner'), 0);
});

test('failures are logged once per policy per interval, with the error, an example trace and how many were left out', () => {
  const { engine: e, lines, clock } = engine([new Throwing('boom'), new Throwing('bang')], [], 60_000);
  for (let i = 0; i < 5; i++) e.decide(trace([{}]), 0);
  assert.equal(lines.length, 2, 'one line per policy, not one per trace');
  const boom = lines.find((l) => l.policy === 'boom')!;
  assert.equal(boom.level, 50);
  assert.equal(boom.traceId, TRACE_ID);
  assert.equal(boom.suppressed, 0);
  assert.match(String((boom.err as { message: string }).message), /boom broke/);
  clock.ms += 59_999;
  e.decide(trace([{}]), 0);
  assert.equal(lines.length, 2);
  clock.ms += 1;
  e.decide(trace([{}]), 0);
  assert.equal(lines.length, 4);
  // Traces 2-6 of each policy were left out; the 7th is logged and says so.
  assert.deepEqual(
    lines.slice(2).map((l) => [l.policy, l.suppressed]),
    [
      ['boom', 5],
      ['bang', 5],
    ],
  );
});

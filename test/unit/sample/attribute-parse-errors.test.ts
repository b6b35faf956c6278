import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceData } from '../../../src/sample/sampler.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { captureLogger, counterValue, samplerFor, trace, TRACE_ID, type SpanSpec } from './helpers.ts';

const ROUTE = 'http.route';

function setup(invert = false) {
  const metrics = new Metrics();
  const { logger, lines } = captureLogger();
  const clock = { ms: 5_000_000 };
  const s = samplerFor(
    [{ name: 'checkout', type: 'string_attribute', string_attribute: { key: ROUTE, values: ['/checkout'], invert_match: invert } }],
    { metrics, logger, problemLogIntervalMs: 60_000, now: () => clock.ms },
  );
  const unreadable = (column: string) => counterValue(metrics.policyAttributeParseErrors, { column });
  const failed = () => counterValue(metrics.policyEvaluationErrors, { policy: 'checkout' });
  return { s, metrics, lines, clock, unreadable, failed };
}

/** A trace from `specs` whose span `i` has `text` as its raw attributes (or resource) column. */
function withRaw(specs: SpanSpec[], column: 'attributes' | 'resource', raw: Record<number, string>): TraceData {
  const t = trace(specs);
  const col = t.spans![column] as string[];
  for (const [i, text] of Object.entries(raw)) col[Number(i)] = text;
  return t;
}

// Each mentions the key, so the view has to parse it (texts without any policy key are never parsed).
const NOT_JSON = `[{"key":"${ROUTE}","value":{"stringValue":"/checkout"}`;
const NOT_A_LIST = `{"key":"${ROUTE}","value":{"stringValue":"/checkout"}}`;

test('an unreadable span attributes text counts, and the span reads as having none while the others still match', async () => {
  const { s, unreadable, failed } = setup();
  const t = withRaw([{ attrs: { [ROUTE]: '/cart' } }, { attrs: { [ROUTE]: '/checkout' } }], 'attributes', { 0: NOT_JSON });
  assert.deepEqual(s.decide(t, 0), { keep: true, policy: 'checkout', threshold: '0' });
  assert.equal(await unreadable('attributes'), 1);
  assert.equal(await failed(), 0, 'the policy itself did not fail');
  const only = withRaw([{}], 'attributes', { 0: NOT_JSON });
  assert.equal(s.decide(only, 0).keep, false);
  assert.equal(await unreadable('attributes'), 2);
  assert.equal(await unreadable('resource'), 0);
});

test('JSON of the wrong shape is as unreadable as broken JSON', async () => {
  const { s, unreadable } = setup();
  s.decide(withRaw([{}, {}], 'attributes', { 0: NOT_A_LIST, 1: `"${ROUTE}"` }), 0);
  assert.equal(await unreadable('attributes'), 2);
  // Resources: not an object, attributes not an array → unreadable; an object without attributes is an empty resource.
  s.decide(withRaw([{}, {}, {}], 'resource', { 0: `[{"key":"${ROUTE}"}]`, 1: `{"attributes":"${ROUTE}"}`, 2: `{"x":"${ROUTE}"}` }), 0);
  assert.equal(await unreadable('resource'), 2);
});

test('an unreadable resource is counted once per trace however many spans share it', async () => {
  const { s, unreadable } = setup();
  const bad = `{"attributes":[{"key":"${ROUTE}"`;
  const t = withRaw([{ attrs: { [ROUTE]: '/checkout' } }, {}, {}], 'resource', { 0: bad, 1: bad, 2: bad });
  assert.equal(s.decide(t, 0).keep, true, 'span attributes are still read');
  assert.equal(await unreadable('resource'), 1);
  assert.equal(await unreadable('attributes'), 0);
});

test('with invert_match an unreadable span reads as lacking the key, so it does not veto', async () => {
  const { s, unreadable } = setup(true);
  // The broken text says /checkout, but it cannot be read: no match, InvertSampled, kept.
  assert.equal(s.decide(withRaw([{}], 'attributes', { 0: NOT_JSON }), 0).keep, true);
  assert.equal(await unreadable('attributes'), 1);
});

test('a missing (null) text is empty, not unreadable', async () => {
  const { s, unreadable } = setup();
  const t = trace([{ attrs: { [ROUTE]: '/checkout' } }, {}]);
  (t.spans!.attributes as (string | null)[])[1] = null;
  (t.spans!.resource as (string | null)[])[1] = null;
  assert.equal(s.decide(t, 0).keep, true);
  assert.equal(await unreadable('attributes'), 0);
  assert.equal(await unreadable('resource'), 0);
});

test('unreadable texts are logged once per column per interval, with the parse error and an example trace', async () => {
  const { s, lines, clock, metrics } = setup();
  for (let i = 0; i < 4; i++) s.decide(withRaw([{}, {}], 'attributes', { 0: NOT_JSON, 1: NOT_A_LIST }), 0);
  s.decide(withRaw([{}], 'resource', { 0: `{"attributes":[{"key":"${ROUTE}"` }), 0);
  assert.equal(await counterValue(metrics.policyAttributeParseErrors, { column: 'attributes' }), 8);
  assert.deepEqual(
    lines.map((l) => [l.column, l.traceId, l.suppressed, l.level]),
    [
      ['attributes', TRACE_ID, 0, 40],
      ['resource', TRACE_ID, 0, 40],
    ],
  );
  assert.match(String((lines[0]!.err as { message: string }).message), /JSON/);
  clock.ms += 60_000;
  s.decide(withRaw([{}], 'attributes', { 0: NOT_A_LIST }), 0);
  assert.equal(lines.length, 3);
  assert.equal(lines[2]!.suppressed, 7);
  assert.match(String((lines[2]!.err as { message: string }).message), /not an array/);
});

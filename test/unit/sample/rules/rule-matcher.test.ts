import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRule } from '../../../../src/sample/rules/rule-matcher.ts';
import { TraceFacts } from '../../../../src/sample/rules/trace-facts.ts';
import type { TraceData } from '../../../../src/sample/sampler.ts';
import { TRACE_ID } from '../helpers.ts';
import { forceRule, ruleTrace, type RuleSpan } from './helpers.ts';

const unreadable: string[] = [];
const facts = new TraceFacts((column) => unreadable.push(column));

function matches(match: Record<string, unknown>, trace: TraceData): boolean {
  const r = compileRule(forceRule({ match }));
  assert.ok(r.canRead(trace), 'the trace has the columns the rule reads');
  facts.reset(trace);
  return r.matches(facts);
}

const one = (s: RuleSpan) => ruleTrace([s]);
const span = (key: string, op: string, value?: unknown) => ({ span: [{ key, op, ...(value !== undefined ? { value } : {}) }] });

test('string operators on span attributes: eq, neq, contains, prefix, suffix, regex, in', () => {
  const t = one({ attrs: { 'http.route': '/api/orders/42', 'http.method': 'POST' } });
  assert.equal(matches(span('http.route', 'eq', '/api/orders/42'), t), true);
  assert.equal(matches(span('http.route', 'eq', '/api/orders'), t), false);
  assert.equal(matches(span('http.method', 'neq', 'GET'), t), true);
  assert.equal(matches(span('http.method', 'neq', 'POST'), t), false);
  assert.equal(matches(span('http.route', 'contains', 'orders'), t), true);
  assert.equal(matches(span('http.route', 'contains', 'users'), t), false);
  assert.equal(matches(span('http.route', 'prefix', '/api'), t), true);
  assert.equal(matches(span('http.route', 'prefix', 'api'), t), false);
  assert.equal(matches(span('http.route', 'suffix', '/42'), t), true);
  assert.equal(matches(span('http.route', 'suffix', '/4'), t), false);
  assert.equal(matches(span('http.route', 'regex', 'orders/\\d+$'), t), true, 'unanchored, as otelcol');
  assert.equal(matches(span('http.route', 'regex', '^orders'), t), false);
  assert.equal(matches(span('http.method', 'in', ['GET', 'POST']), t), true);
  assert.equal(matches(span('http.method', 'in', ['GET', 'PUT']), t), false);
});

test('every operator but exists is false on a missing key; neq means present and different', () => {
  const t = one({ attrs: { other: 'x' } });
  for (const [op, value] of [['eq', 'a'], ['neq', 'a'], ['contains', 'a'], ['prefix', 'a'], ['suffix', 'a'], ['regex', '.*'], ['in', ['a']], ['gt', 0], ['lte', 0]] as const) {
    assert.equal(matches(span('http.route', op, value), t), false, `${op} on a missing key`);
  }
  assert.equal(matches(span('http.route', 'exists'), t), false);
  assert.equal(matches(span('other', 'exists'), t), true);
});

test('numeric comparisons read int and double attributes, never strings', () => {
  const t = one({ attrs: { 'http.status_code': 503, ratio: { double: 0.25 }, text: '900' } });
  assert.equal(matches(span('http.status_code', 'gte', 500), t), true);
  assert.equal(matches(span('http.status_code', 'gt', 503), t), false);
  assert.equal(matches(span('http.status_code', 'lt', 600), t), true);
  assert.equal(matches(span('http.status_code', 'lte', 502), t), false);
  assert.equal(matches(span('ratio', 'lt', 0.5), t), true);
  assert.equal(matches(span('ratio', 'gt', 0.25), t), false);
  assert.equal(matches(span('text', 'gt', 100), t), false, 'a numeric string is not a number');
  assert.equal(matches(span('http.status_code', 'eq', 503), t), true, 'eq compares the text of any scalar');
  assert.equal(matches(span('http.status_code', 'in', [500, 503]), t), true);
  assert.equal(matches(span('ratio', 'eq', 0.25), t), true);
});

test('booleans compare by their text', () => {
  const t = one({ attrs: { 'debug.keep': true } });
  assert.equal(matches(span('debug.keep', 'eq', true), t), true);
  assert.equal(matches(span('debug.keep', 'eq', 'true'), t), true);
  assert.equal(matches(span('debug.keep', 'eq', false), t), false);
});

test('kind and status by name, OTLP enum name or code', () => {
  const t = one({ kind: 2, status: 2 });
  for (const v of ['server', 'SERVER', 'SPAN_KIND_SERVER', 2, '2']) assert.equal(matches(span('kind', 'eq', v), t), true, `kind ${v}`);
  assert.equal(matches(span('kind', 'eq', 'client'), t), false);
  assert.equal(matches(span('kind', 'neq', 'client'), t), true);
  assert.equal(matches(span('kind', 'in', ['client', 'SPAN_KIND_SERVER']), t), true);
  for (const v of ['error', 'STATUS_CODE_ERROR', 2]) assert.equal(matches(span('status', 'eq', v), t), true, `status ${v}`);
  assert.equal(matches(span('status', 'eq', 'ok'), t), false);
  assert.equal(matches(span('status', 'neq', 'unset'), t), true);
});

test('span name and service.name are span fields; anything else is an attribute', () => {
  const t = one({ name: 'GET /cart', service: 'checkout', attrs: { name: 'an attribute' } });
  assert.equal(matches(span('name', 'prefix', 'GET'), t), true);
  assert.equal(matches(span('name', 'eq', 'an attribute'), t), false, 'name is the span name');
  assert.equal(matches(span('service.name', 'eq', 'checkout'), t), true);
  assert.equal(matches(span('service.name', 'exists'), one({ service: null })), false);
});

test('span conditions match when one span satisfies them all, not when spread over spans', () => {
  const t = ruleTrace([
    { kind: 2, attrs: { 'http.route': '/health' } },
    { kind: 3, attrs: { 'http.route': '/api/pay' } },
  ]);
  const both = (route: string, kind: string) => ({ span: [{ key: 'http.route', op: 'prefix', value: route }, { key: 'kind', op: 'eq', value: kind }] });
  assert.equal(matches(both('/api', 'client'), t), true);
  assert.equal(matches(both('/api', 'server'), t), false, 'the /api span is not the server span');
  assert.equal(matches(both('/health', 'server'), t), true);
});

test('resource conditions AND together on one resource; service.name alone reads the service_name column', () => {
  const t = ruleTrace([
    { service: 'checkout', resource: { 'deployment.environment': 'staging' } },
    { service: 'cart', resource: { 'deployment.environment': 'prod' } },
  ]);
  const res = (...conds: [string, string, unknown][]) => ({ resource: conds.map(([key, op, value]) => ({ key, op, value })) });
  assert.equal(matches(res(['service.name', 'eq', 'checkout'], ['deployment.environment', 'eq', 'staging']), t), true);
  assert.equal(matches(res(['service.name', 'eq', 'checkout'], ['deployment.environment', 'eq', 'prod']), t), false, 'not the same resource');
  assert.equal(matches(res(['service.name', 'in', ['cart', 'x']]), t), true);
  assert.deepEqual(compileRule(forceRule({ match: res(['service.name', 'eq', 'cart']) })).columns, ['service_name']);
  assert.deepEqual(compileRule(forceRule({ match: res(['deployment.environment', 'eq', 'prod']) })).columns, ['resource']);
});

test('trace_id, resource and span parts must all hold', () => {
  const t = ruleTrace([{ service: 'checkout', attrs: { 'http.route': '/api/pay' } }]);
  const match = { trace_id: TRACE_ID.toUpperCase(), resource: [{ key: 'service.name', op: 'eq', value: 'checkout' }], span: [{ key: 'http.route', op: 'prefix', value: '/api' }] };
  assert.equal(matches(match, t), true);
  assert.equal(matches({ ...match, trace_id: 'f'.repeat(32) }, t), false);
  assert.equal(matches({ ...match, resource: [{ key: 'service.name', op: 'eq', value: 'cart' }] }, t), false);
  assert.equal(matches({ ...match, span: [{ key: 'http.route', op: 'prefix', value: '/web' }] }, t), false);
});

test('columns read: none for a trace id; just the fields named otherwise', () => {
  const cols = (match: Record<string, unknown>) => [...compileRule(forceRule({ match })).columns].sort();
  assert.deepEqual(cols({ trace_id: TRACE_ID }), []);
  assert.deepEqual(cols(span('kind', 'eq', 'server')), ['span_kind']);
  assert.deepEqual(cols({ span: [{ key: 'status', op: 'eq', value: 'error' }, { key: 'name', op: 'eq', value: 'x' }] }), ['operation_name', 'status_code']);
  assert.deepEqual(cols(span('http.route', 'exists')), ['attributes']);
  const rule = compileRule(forceRule({ match: span('http.route', 'exists') }));
  assert.equal(rule.canRead(ruleTrace([{}], TRACE_ID, ['status_code'])), false, 'rows without the attributes column');
  assert.equal(rule.canRead({ ...ruleTrace([{}]), spans: null }), false);
});

test('an unreadable attributes text reads as no attributes and is reported', () => {
  const t = ruleTrace([{ attrs: { a: 'x' } }, { attrs: { a: 'y' } }]);
  (t.spans!.attributes as string[])[0] = '{"a" broken';
  unreadable.length = 0;
  assert.equal(matches(span('a', 'eq', 'y'), t), true, 'the other span is still read');
  assert.equal(matches(span('a', 'eq', 'x'), t), false);
  assert.deepEqual(unreadable, ['attributes', 'attributes']);
});

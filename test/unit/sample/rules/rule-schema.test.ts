import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuleValidationError } from '../../../../src/sample/rules/errors.ts';
import { parseRuleInput, parseStoredRule, parseTtl } from '../../../../src/sample/rules/rule-schema.ts';

const good = { action: 'keep', ttl_secs: 3600, match: { span: [{ key: 'http.route', op: 'prefix', value: '/api' }] } };
const span = (c: object) => ({ ...good, match: { span: [c] } });
const resource = (c: object) => ({ ...good, match: { resource: [c] } });

/** Each bad rule, with the path and (part of) the message it must be refused with. */
const BAD: [string, unknown, string, RegExp][] = [
  ['not an object', 'keep everything', '', /expected object/],
  ['no action', { ttl_secs: 60, match: good.match }, 'action', /keep.*drop/],
  ['unknown action', { ...good, action: 'sample' }, 'action', /keep.*drop/],
  ['no ttl', { action: 'keep', match: good.match }, 'ttl_secs', /number/],
  ['ttl zero', { ...good, ttl_secs: 0 }, 'ttl_secs', />=1/],
  ['ttl fractional', { ...good, ttl_secs: 1.5 }, 'ttl_secs', /whole number/],
  ['ttl over 30 days', { ...good, ttl_secs: 31 * 86400 }, 'ttl_secs', /30 days/],
  ['priority not an integer', { ...good, priority: 'high' }, 'priority', /number/],
  ['unknown top-level key', { ...good, expires: 5 }, '', /Unrecognized key.*expires/],
  ['empty match', { ...good, match: {} }, 'match', /at least one of trace_id, resource, span/],
  ['match with empty lists', { ...good, match: { resource: [], span: [] } }, 'match', /at least one/],
  ['bad trace id', { ...good, match: { trace_id: 'abc' } }, 'match.trace_id', /32 hex/],
  ['all-zero trace id', { ...good, match: { trace_id: '0'.repeat(32) } }, 'match.trace_id', /all-zero/],
  ['unknown match key', { ...good, match: { spans: [] } }, 'match', /Unrecognized key.*spans/],
  ['unknown operator', span({ key: 'http.route', op: 'startswith', value: '/api' }), 'match.span[0].op', /Invalid option/],
  ['empty key', resource({ key: '', op: 'eq', value: 'x' }), 'match.resource[0].key', /must not be empty/],
  ['eq without value', span({ key: 'http.method', op: 'eq' }), 'match.span[0].value', /eq needs a value/],
  ['exists with a value', span({ key: 'user.id', op: 'exists', value: true }), 'match.span[0].value', /exists takes no value/],
  ['gt with a string', span({ key: 'http.status_code', op: 'gt', value: '500' }), 'match.span[0].value', /gt compares numbers/],
  ['in with a scalar', span({ key: 'http.method', op: 'in', value: 'GET' }), 'match.span[0].value', /non-empty list/],
  ['in with an empty list', span({ key: 'http.method', op: 'in', value: [] }), 'match.span[0].value', /non-empty list/],
  ['in with an object item', span({ key: 'http.method', op: 'in', value: ['GET', { a: 1 }] }), 'match.span[0].value[1]', /string or a number/],
  ['regex that does not compile', span({ key: 'http.route', op: 'regex', value: '(/api' }), 'match.span[0].value', /invalid regular expression/],
  ['prefix with an empty string', span({ key: 'http.route', op: 'prefix', value: '' }), 'match.span[0].value', /non-empty string/],
  ['contains with a number', span({ key: 'http.route', op: 'contains', value: 5 }), 'match.span[0].value', /non-empty string/],
  ['eq with an object', resource({ key: 'service.name', op: 'eq', value: { x: 1 } }), 'match.resource[0].value', /string, a number or a boolean/],
  ['unknown span kind', span({ key: 'kind', op: 'eq', value: 'serverside' }), 'match.span[0].value', /unknown kind "serverside"/],
  ['span kind out of range', span({ key: 'kind', op: 'in', value: ['server', 9] }), 'match.span[0].value[1]', /unknown kind 9/],
  ['kind with prefix', span({ key: 'kind', op: 'prefix', value: 'ser' }), 'match.span[0].op', /kind takes eq, neq, in or exists/],
  ['unknown status', span({ key: 'status', op: 'eq', value: 'failed' }), 'match.span[0].value', /unknown status "failed"/],
  ['name compared as a number', span({ key: 'name', op: 'gte', value: 3 }), 'match.span[0].op', /name is a string: gte does not apply/],
  ['unknown condition key', span({ key: 'http.route', op: 'eq', value: '/', negate: true }), 'match.span[0]', /Unrecognized key.*negate/],
  ['too many conditions', { ...good, match: { span: Array.from({ length: 33 }, () => ({ key: 'a', op: 'exists' })) } }, 'match.span', /at most 32/],
  ['reason not a string', { ...good, reason: 42 }, 'reason', /string/],
  ['enabled not a boolean', { ...good, enabled: 'yes' }, 'enabled', /boolean/],
];

test(`${BAD.length} bad rules are refused, each with its path and reason`, () => {
  assert.ok(BAD.length >= 20);
  for (const [what, input, path, message] of BAD) {
    let err: unknown;
    try {
      parseRuleInput(input);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof RuleValidationError, `${what}: refused`);
    assert.equal(err.code, 'TS_RULE_INVALID');
    assert.equal(err.retryable, false);
    const hit = err.issues.find((i) => i.path === path && message.test(i.message));
    assert.ok(hit, `${what}: expected an issue at "${path}" matching ${message}, got ${JSON.stringify(err.issues)}`);
  }
});

test('every issue of a rule is reported at once', () => {
  assert.throws(
    () => parseRuleInput({ action: 'nope', ttl_secs: -1, match: { span: [{ key: 'kind', op: 'regex', value: 'x' }, { key: 'a', op: 'lt' }] } }),
    (e: unknown) => {
      const paths = (e as RuleValidationError).issues.map((i) => i.path);
      assert.deepEqual(paths.sort(), ['action', 'match.span[0].op', 'match.span[1].value', 'ttl_secs']);
      return true;
    },
  );
});

test('a valid rule gets its defaults; the trace id is lowercased; kind and status spellings pass', () => {
  const r = parseRuleInput({
    action: 'drop',
    ttl_secs: 60,
    match: {
      trace_id: '4BF92F3577B34DA6A3CE929D0E0E4736',
      span: [
        { key: 'kind', op: 'in', value: ['server', 'SPAN_KIND_CLIENT', 4, '5'] },
        { key: 'status', op: 'eq', value: 'STATUS_CODE_ERROR' },
        { key: 'http.status_code', op: 'gte', value: 500 },
        { key: 'user.id', op: 'exists' },
      ],
    },
  });
  assert.equal(r.match.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(r.priority, 0);
  assert.equal(r.enabled, true);
  assert.equal(r.reason, '');
  assert.equal(r.match.span!.length, 4);
});

test('extend validates its ttl at ttl_secs', () => {
  assert.equal(parseTtl(120), 120);
  assert.throws(() => parseTtl(0), (e: unknown) => (e as RuleValidationError).issues[0]!.path === 'ttl_secs');
});

test('a stored entry that is not a rule is reported, not trusted', () => {
  assert.ok(parseStoredRule('{') instanceof Error);
  const err = parseStoredRule(JSON.stringify({ id: 'x', action: 'keep', match: {} }));
  assert.ok(err instanceof Error);
  assert.match(err.message, /match: needs at least one/);
});

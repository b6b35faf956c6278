import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formatCondition, formatDuration, parseCondition, parseDuration, UsageError } from '../../../src/cli/rule-syntax.ts';

it('every operator of the compact syntax parses to its condition', () => {
  const cases: [string, unknown][] = [
    ['service.name=checkout', { key: 'service.name', op: 'eq', value: 'checkout' }],
    ['env!=prod', { key: 'env', op: 'neq', value: 'prod' }],
    ['http.route^=/api', { key: 'http.route', op: 'prefix', value: '/api' }],
    ['http.url$=.json', { key: 'http.url', op: 'suffix', value: '.json' }],
    ['db.statement*=SELECT', { key: 'db.statement', op: 'contains', value: 'SELECT' }],
    ['name~=^GET /a=b$', { key: 'name', op: 'regex', value: '^GET /a=b$' }],
    ['http.status_code>=500', { key: 'http.status_code', op: 'gte', value: 500 }],
    ['duration>2.5', { key: 'duration', op: 'gt', value: 2.5 }],
    ['retries<=3', { key: 'retries', op: 'lte', value: 3 }],
    ['x<-1', { key: 'x', op: 'lt', value: -1 }],
    ['tenant in a, b,c', { key: 'tenant', op: 'in', value: ['a', 'b', 'c'] }],
    ['error exists', { key: 'error', op: 'exists' }],
    ['empty=', { key: 'empty', op: 'eq', value: '' }],
    ['q=a==b', { key: 'q', op: 'eq', value: 'a==b' }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseCondition(text), expected, text);
});

it('conditions written back read the same', () => {
  for (const text of ['service.name=checkout', 'env!=prod', 'http.route^=/api', 'a$=b', 'a*=b', 'a~=x.*', 'a>=1', 'a>1', 'a<=1', 'a<1', 'a in x,y', 'a exists']) {
    assert.deepEqual(parseCondition(formatCondition(parseCondition(text))), parseCondition(text), text);
  }
});

it('malformed conditions are usage errors that say what is expected', () => {
  for (const text of ['', 'checkout', '=x', 'a>=fast', 'a>', 'a in', 'a exists now', 'a=!b'.replace('a=', '!')]) {
    assert.throws(() => parseCondition(text), UsageError, text);
  }
  assert.throws(() => parseCondition('nokey'), /expected key=value/);
});

it('durations: seconds or units, refused when empty, zero or unknown', () => {
  assert.equal(parseDuration('90'), 90);
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('15m'), 900);
  assert.equal(parseDuration('1h'), 3600);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('2d'), 172_800);
  for (const bad of ['', '0', '0s', '1w', '1.5h', 'h', '-5', '30m1h']) assert.throws(() => parseDuration(bad), UsageError, bad);
  assert.equal(formatDuration(5400), '1h30m');
  assert.equal(formatDuration(-1), 'expired');
});

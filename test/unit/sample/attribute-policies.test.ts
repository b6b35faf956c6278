import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samplerFor, trace } from './helpers.ts';

const str = (values: string[], extra: object = {}) =>
  samplerFor([{ name: 's', type: 'string_attribute', string_attribute: { key: 'http.route', values, ...extra } }]);

test('string_attribute matches span attributes and resource attributes of any span', () => {
  const s = str(['/checkout']);
  assert.equal(s.decide(trace([{}, { attrs: { 'http.route': '/checkout' } }]), 0).keep, true);
  assert.equal(s.decide(trace([{ resource: { 'http.route': '/checkout' } }]), 0).keep, true);
  assert.equal(s.decide(trace([{ attrs: { 'http.route': '/cart' } }]), 0).keep, false);
  assert.equal(s.decide(trace([{ attrs: { other: '/checkout' } }]), 0).keep, false);
  assert.deepEqual([...s.requiredColumns].sort(), ['attributes', 'resource']);
});

test('string_attribute regexes are unanchored like Go MatchString', () => {
  const s = str(['/v1/name/.+'], { enabled_regex_matching: true });
  assert.equal(s.decide(trace([{ attrs: { 'http.route': '/api/v1/name/42' } }]), 0).keep, true);
  assert.equal(s.decide(trace([{ attrs: { 'http.route': '/v1/name/' } }]), 0).keep, false);
});

test('string_attribute ignores non-string values, as pcommon Str() reads them as ""', () => {
  const s = str(['500']);
  assert.equal(s.decide(trace([{ attrs: { 'http.route': 500 } }]), 0).keep, false);
});

test('string_attribute invert_match keeps when nothing matches, missing key included, and vetoes otherwise', () => {
  const s = str(['/health'], { invert_match: true });
  assert.deepEqual(s.decide(trace([{ attrs: { 'http.route': '/cart' } }]), 0), { keep: true, policy: 's', threshold: '0' });
  assert.equal(s.decide(trace([{}]), 0).keep, true);
  assert.deepEqual(s.decide(trace([{ attrs: { 'http.route': '/cart' } }, { attrs: { 'http.route': '/health' } }]), 0), {
    keep: false,
    policy: 's',
    threshold: null,
  });
});

test('numeric_attribute range is inclusive and 0 means unbounded (otelcol)', () => {
  const s = samplerFor([{ name: 'n', type: 'numeric_attribute', numeric_attribute: { key: 'code', min_value: 400, max_value: 599 } }]);
  assert.equal(s.decide(trace([{ attrs: { code: 400 } }]), 0).keep, true);
  assert.equal(s.decide(trace([{ attrs: { code: 599n } }]), 0).keep, true);
  assert.equal(s.decide(trace([{ attrs: { code: 600 } }]), 0).keep, false);
  assert.equal(s.decide(trace([{ resource: { code: 503 } }]), 0).keep, true);
  // A double is not an int to pcommon: it reads as 0, outside [400, 599].
  assert.equal(s.decide(trace([{ attrs: { code: { double: 500 } } }]), 0).keep, false);
  const open = samplerFor([{ name: 'n', type: 'numeric_attribute', numeric_attribute: { key: 'code', min_value: 0, max_value: 10 } }]);
  assert.equal(open.decide(trace([{ attrs: { code: -1_000_000 } }]), 0).keep, true);
  const inv = samplerFor([{ name: 'n', type: 'numeric_attribute', numeric_attribute: { key: 'code', min_value: 400, invert_match: true } }]);
  assert.equal(inv.decide(trace([{ attrs: { code: 200 } }]), 0).keep, true);
  assert.equal(inv.decide(trace([{ attrs: { code: 200 } }, { attrs: { code: 404 } }]), 0).keep, false);
});

test('boolean_attribute matches the bool value; invert_match vetoes', () => {
  const s = samplerFor([{ name: 'b', type: 'boolean_attribute', boolean_attribute: { key: 'app.force_sample', value: true } }]);
  assert.equal(s.decide(trace([{ attrs: { 'app.force_sample': true } }]), 0).keep, true);
  assert.equal(s.decide(trace([{ attrs: { 'app.force_sample': false } }]), 0).keep, false);
  assert.equal(s.decide(trace([{ attrs: { 'app.force_sample': 'true' } }]), 0).keep, false);
  const inv = samplerFor([{ name: 'b', type: 'boolean_attribute', boolean_attribute: { key: 'bot', value: true, invert_match: true } }]);
  assert.equal(inv.decide(trace([{ attrs: { bot: false } }]), 0).keep, true);
  assert.equal(inv.decide(trace([{ resource: { bot: true } }]), 0).keep, false);
});

test('malformed attribute JSON counts as no attributes instead of failing the decision', () => {
  const s = str(['/x']);
  const t = trace([{ attrs: { 'http.route': '/x' } }, {}]);
  (t.spans!.attributes as string[])[1] = '[{"key":"http.route", broken';
  assert.equal(s.decide(t, 0).keep, true);
});

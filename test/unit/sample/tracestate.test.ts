import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOtTraceState, parseRandomness, traceStateValue, withThreshold } from '../../../src/sample/tracestate.ts';

test('withThreshold creates the ot member when there is no tracestate', () => {
  assert.equal(withThreshold(null, '0'), 'ot=th:0');
  assert.equal(withThreshold('', 'c'), 'ot=th:c');
});

test('withThreshold puts ot first and keeps other vendors in order', () => {
  assert.equal(withThreshold('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', '8'), 'ot=th:8,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  assert.equal(withThreshold('congo=x, ot=rv:0123456789abcd;x:y , rojo=1', 'c'), 'ot=th:c;rv:0123456789abcd;x:y,congo=x,rojo=1');
});

test('withThreshold raises a lower threshold but never lowers a higher one', () => {
  // Head-sampled at 1/2 (th:8) and kept by us with probability 1: still 1/2 overall.
  assert.equal(withThreshold('ot=th:8;rv:0123456789abcd', '0'), 'ot=th:8;rv:0123456789abcd');
  // Head-sampled at 1/2, kept by us at 1/4: the stricter c wins.
  assert.equal(withThreshold('ot=th:8', 'c'), 'ot=th:c');
  // A malformed existing th is replaced.
  assert.equal(withThreshold('ot=th:zz', '8'), 'ot=th:8');
});

test('withThreshold keeps the member count within the W3C limit of 32', () => {
  const members = Array.from({ length: 32 }, (_, i) => `v${i}=x`);
  const out = withThreshold(members.join(','), '0').split(',');
  assert.equal(out.length, 32);
  assert.equal(out[0], 'ot=th:0');
  assert.equal(out[31], 'v30=x');
});

test('parseOtTraceState and parseRandomness read th and rv', () => {
  const ot = parseOtTraceState('a=b,ot=th:c;rv:00ff00ff00ff00;k:v');
  assert.deepEqual(ot, { th: 'c', rv: '00ff00ff00ff00', rest: ['k:v'] });
  assert.equal(parseRandomness(ot.rv), 0x00ff00ff00ff00n);
  assert.equal(parseRandomness('abc'), null);
  assert.equal(traceStateValue('a=1,b=2', 'b'), '2');
  assert.equal(traceStateValue('a=1,b=2', 'c'), null);
});

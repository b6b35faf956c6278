import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_THRESHOLD, probabilityToThreshold, thresholdFromHex, thresholdToHex } from '../../../src/sample/threshold.ts';

const th = (p: number) => thresholdToHex(probabilityToThreshold(p));

test('probability 1 is th:0, and 0 has no th (never kept)', () => {
  assert.equal(th(1), '0');
  assert.equal(probabilityToThreshold(0), MAX_THRESHOLD);
  assert.equal(th(0), null);
});

test('powers of two give the spec examples', () => {
  assert.equal(th(0.5), '8');
  assert.equal(th(0.25), 'c');
  assert.equal(th(0.125), 'e');
  assert.equal(th(1 / 1024), 'ffc');
});

test('1/3 and 1/10 use all 14 digits, rounded from the exact float product', () => {
  // 1/3 as float64 is 0x15555555555555·2^-54, so T = 2^56 − 0x55555555555554 exactly.
  assert.equal(th(1 / 3), 'aaaaaaaaaaaaac');
  // 2/3 as float64 is 0x15555555555555·2^-53: p·2^56 = 0xaaaaaaaaaaaaa8.
  assert.equal(th(2 / 3), '55555555555558');
  assert.equal(th(0.1), 'e6666666666666');
});

test('thresholdFromHex pads on the right and rejects malformed text', () => {
  assert.equal(thresholdFromHex('8'), 1n << 55n);
  assert.equal(thresholdFromHex('0'), 0n);
  assert.equal(thresholdFromHex('aaaaaaaaaaaaac'), probabilityToThreshold(1 / 3));
  assert.equal(thresholdFromHex('G'), null);
  assert.equal(thresholdFromHex('123456789abcdef'), null);
  assert.equal(thresholdFromHex(''), null);
});

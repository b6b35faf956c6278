import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmaThroughput, splitBudget, type EmaThroughputOptions } from '../../../src/sample/policies/ema-throughput.ts';

const SEC = 1000;

function ema(o: Partial<EmaThroughputOptions> = {}): EmaThroughput {
  return new EmaThroughput({
    goalThroughputPerSec: 10,
    adjustmentIntervalMs: 10 * SEC,
    weight: 0.5,
    ageOutValue: 0.5,
    burstMultiple: 0,
    burstDetectionDelay: 3,
    initialSampleRate: 7,
    maxKeys: 500,
    overflowSampleRate: 1,
    ...o,
  });
}

/** Feeds `perInterval` spans of each key, spread over one interval starting at `fromMs`. */
function feed(e: EmaThroughput, perInterval: Record<string, number>, fromMs: number, intervalMs = 10 * SEC): void {
  for (const [key, n] of Object.entries(perInterval)) {
    for (let i = 0; i < n; i++) e.observe(key, 1, fromMs + Math.floor((i * intervalMs) / n));
  }
}

test('splitBudget: log10 shares, rate 1 within a share, the unused rest handed to the keys after it', () => {
  // One key: the whole budget.
  assert.deepEqual([...splitBudget(100, Math.log10(1000), new Map([['a', 1000]]))], [['a', 10]]);
  // a: log10(10) = 1, b: log10(10000) = 4, logSum 5, budget 50 → shares 10 and 40: a fits exactly, b 10000/40.
  const r = splitBudget(50, 5, new Map([['b', 10000], ['a', 10]]));
  assert.equal(r.get('a'), 1);
  assert.equal(r.get('b'), 250);
  // a (avg 2) fits in its share (log10(2)/logSum of 100 ≈ 7) and hands ~5 on to b.
  const logSum = Math.log10(2) + Math.log10(1000);
  const r2 = splitBudget(100, logSum, new Map([['a', 2], ['b', 1000]]));
  assert.equal(r2.get('a'), 1);
  const shareA = (Math.log10(2) / logSum) * 100;
  const shareB = (3 / logSum) * 100 + (shareA - 2);
  assert.ok(Math.abs(r2.get('b')! - 1000 / shareB) < 1e-9);
  // Averages of at most 1 have no log weight: everything fits.
  assert.deepEqual([...splitBudget(10, 0, new Map([['a', 0.7], ['b', 1]]))], [['a', 1], ['b', 1]]);
});

test('initial_sample_rate until the first adjustment; afterwards a new key gets rate 1', () => {
  const e = ema();
  assert.equal(e.observe('a', 1, 0), 7);
  feed(e, { a: 999 }, 1);
  // 10 s later the interval ends: a averages 500 (weight 0.5 of 1000), budget 100 → rate 5.
  assert.equal(e.observe('a', 1, 10 * SEC), 5);
  assert.equal(e.observe('new', 1, 10 * SEC), 1);
});

test('a key that stops ages out of the average and is kept whole again', () => {
  const e = ema();
  feed(e, { a: 1000, b: 1000 }, 0);
  feed(e, { a: 1000, b: 1000 }, 10 * SEC);
  assert.ok(e.observe('b', 1, 20 * SEC) > 1);
  // b goes quiet while a carries on: its average halves each interval (1000·0.75 → … < 0.5 after 11).
  for (let i = 2; i < 14; i++) feed(e, { a: 1000 }, i * 10 * SEC + 1);
  assert.equal(e.rates().has('b'), false);
  assert.equal(e.observe('b', 1, 140 * SEC + 5), 1);
  assert.equal(e.trackedKeys, 1);
});

test('an interval with no traffic at all leaves the average alone (no decay during an outage)', () => {
  const e = ema();
  feed(e, { a: 1000 }, 0);
  feed(e, { a: 1000 }, 10 * SEC);
  const before = e.observe('a', 0, 20 * SEC);
  // Ten silent minutes, then traffic again: the first decision still uses the learned rate.
  assert.equal(e.observe('a', 1, 620 * SEC), before);
});

test('a burst (spans beyond burst_multiple × the averages) adjusts at once, after burst_detection_delay intervals', () => {
  const e = ema({ burstMultiple: 2, burstDetectionDelay: 2 });
  for (let i = 0; i < 4; i++) feed(e, { a: 100 }, i * 10 * SEC);
  const steady = e.observe('a', 0, 40 * SEC);
  // Traffic jumps tenfold within one interval: once the burst threshold (2 × ~100) is crossed,
  // the rate rises before the interval ends.
  let rate = steady;
  for (let i = 0; i < 1000 && rate === steady; i++) rate = e.observe('a', 1, 40 * SEC + i);
  assert.ok(rate > steady, `rate ${rate} after a burst, was ${steady}`);
  // Without burst detection the rate waits for the interval's end.
  const calm = ema({ burstMultiple: 0 });
  for (let i = 0; i < 4; i++) feed(calm, { a: 100 }, i * 10 * SEC);
  const calmSteady = calm.observe('a', 0, 40 * SEC);
  for (let i = 0; i < 1000; i++) assert.equal(calm.observe('a', 1, 40 * SEC + i), calmSteady);
});

test('max_keys bounds what is counted and averaged; a key beyond it gets overflow_sample_rate', () => {
  const e = ema({ maxKeys: 3, overflowSampleRate: 20 });
  const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
  feed(e, Object.fromEntries(keys.map((k) => [k, 100])), 0);
  e.observe('k1', 1, 10 * SEC);
  assert.ok(e.trackedKeys <= 3, `tracked ${e.trackedKeys}`);
  // k1..k3 filled the counts first, so they have learned rates; k4/k5 were never counted.
  assert.ok(e.rates().has('k1') && !e.rates().has('k4'));
  feed(e, { k1: 100, k2: 100, k3: 100 }, 10 * SEC + 1);
  assert.equal(e.observe('k4', 1, 19 * SEC), 20);
  // Many distinct keys over many intervals: the average never holds more than max_keys.
  for (let i = 2; i < 30; i++) feed(e, Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`x${i}-${j}`, 5 + j])), i * 10 * SEC);
  assert.ok(e.trackedKeys <= 3 && e.rates().size <= 3, `tracked ${e.trackedKeys}, rates ${e.rates().size}`);
});

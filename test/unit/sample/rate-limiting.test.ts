import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samplerFor, summaryOnly, trace } from './helpers.ts';

const spans = (n: number, size = 100) => summaryOnly(trace(Array.from({ length: n }, () => ({ size }))));

test('rate_limiting is a token bucket: burst of 2×spans_per_second, refilled by nowMs, threshold unknown', () => {
  const s = samplerFor([{ name: 'r', type: 'rate_limiting', rate_limiting: { spans_per_second: 10 } }]);
  assert.deepEqual(s.decide(spans(15), 1000), { keep: true, policy: 'r', threshold: null });
  assert.equal(s.decide(spans(5), 1000).keep, true);
  assert.equal(s.decide(spans(1), 1000).keep, false);
  // Half a second refills 5 spans.
  assert.equal(s.decide(spans(6), 1500).keep, false);
  assert.equal(s.decide(spans(5), 1500).keep, true);
  // A trace larger than the bucket never fits.
  assert.equal(s.decide(spans(21), 100_000).keep, false);
  assert.equal(s.decide(spans(20), 100_000).keep, true);
});

test('bytes_limiting counts summary bytes against burst_capacity', () => {
  const s = samplerFor([{ name: 'b', type: 'bytes_limiting', bytes_limiting: { bytes_per_second: 1000, burst_capacity: 1500 } }]);
  assert.equal(s.decide(spans(10, 100), 0).keep, true); // 1000 bytes
  assert.equal(s.decide(spans(6, 100), 0).keep, false); // 600 > 500 left
  assert.equal(s.decide(spans(5, 100), 0).keep, true);
  assert.equal(s.decide(spans(1, 100), 50).keep, false); // 50 ms refills only 50 bytes
  assert.equal(s.decide(spans(1, 100), 100).keep, true); // 100 ms refills 100
  assert.deepEqual(s.requiredColumns, []);
});

test('composite: first matching sub-policy spends its per-second allocation; unallocated ones never keep', () => {
  const s = samplerFor([
    {
      name: 'c',
      type: 'composite',
      composite: {
        max_total_spans_per_second: 100,
        policy_order: ['errors', 'rest'],
        composite_sub_policy: [
          { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
          { name: 'rest', type: 'always_sample' },
          { name: 'unallocated', type: 'always_sample' },
        ],
        rate_allocation: [
          { policy: 'errors', percent: 50 },
          { policy: 'rest', percent: 25 },
        ],
      },
    },
  ]);
  const err = (n: number) => summaryOnly(trace(Array.from({ length: n }, () => ({ status: 2 }))));
  assert.deepEqual(s.decide(err(50), 5000), { keep: true, policy: 'c', threshold: null });
  // errors is spent for this second; the error trace does not fall through to 'rest'.
  assert.equal(s.decide(err(1), 5999).keep, false);
  assert.equal(s.decide(spans(25), 5999).keep, true);
  assert.equal(s.decide(spans(1), 5999).keep, false);
  // A new second resets every counter.
  assert.equal(s.decide(err(50), 6000).keep, true);
  assert.equal(s.decide(spans(25), 6000).keep, true);
});

test('rate limiting inside and spends nothing when an earlier sub-policy fails', () => {
  const s = samplerFor([
    {
      name: 'a',
      type: 'and',
      and: {
        and_sub_policy: [
          { name: 'err', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
          { name: 'r', type: 'rate_limiting', rate_limiting: { spans_per_second: 5 } },
        ],
      },
    },
  ]);
  for (let i = 0; i < 20; i++) assert.equal(s.decide(spans(5), 0).keep, false);
  const err = summaryOnly(trace(Array.from({ length: 10 }, () => ({ status: 2 }))));
  assert.deepEqual(s.decide(err, 0), { keep: true, policy: 'a', threshold: null });
  assert.equal(s.decide(err, 0).keep, false);
});

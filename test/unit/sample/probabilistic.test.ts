import { test } from 'node:test';
import assert from 'node:assert/strict';
import { samplerFor, summaryOnly, trace, traceIdWithRandomness } from './helpers.ts';

const half = () => samplerFor([{ name: 'p', type: 'probabilistic', probabilistic: { sampling_percentage: 50, hash_salt: 'ignored' } }]);
const R_HALF = 1n << 55n;

test('probabilistic keeps iff randomness (trace id low 56 bits) >= T, and reports th', () => {
  const s = half();
  assert.deepEqual(s.decide(trace([{}], traceIdWithRandomness(R_HALF)), 0), { keep: true, policy: 'p', threshold: '8' });
  assert.equal(s.decide(trace([{}], traceIdWithRandomness(R_HALF - 1n)), 0).keep, false);
  // Without rows (no trace_state column) the trace id decides alike.
  assert.equal(s.decide(summaryOnly(trace([{}], traceIdWithRandomness(R_HALF))), 0).keep, true);
});

test('an rv in the ot tracestate overrides the trace id randomness', () => {
  const s = half();
  const low = traceIdWithRandomness(0n);
  assert.equal(s.decide(trace([{ traceState: 'ot=rv:ffffffffffffff' }], low), 0).keep, true);
  const high = traceIdWithRandomness((1n << 56n) - 1n);
  assert.equal(s.decide(trace([{}, { traceState: 'a=b,ot=th:0;rv:00000000000001' }], high), 0).keep, false);
  assert.deepEqual(s.requiredColumns, ['trace_state']);
});

test('the decision is deterministic and a lower rate keeps a subset of a higher one', () => {
  const s10 = samplerFor([{ name: 'p', type: 'probabilistic', probabilistic: { sampling_percentage: 10 } }]);
  const s30 = samplerFor([{ name: 'p', type: 'probabilistic', probabilistic: { sampling_percentage: 30 } }]);
  let k10 = 0;
  let k30 = 0;
  for (let i = 0; i < 4000; i++) {
    const id = (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, '0').slice(-32);
    const t = summaryOnly(trace([{}], id));
    const a = s10.decide(t, 0).keep;
    assert.equal(s10.decide(t, 0).keep, a);
    const b = s30.decide(t, 0).keep;
    if (a) assert.equal(b, true, `kept at 10% but not at 30%: ${id}`);
    k10 += a ? 1 : 0;
    k30 += b ? 1 : 0;
  }
  assert.ok(k10 > 300 && k10 < 500, `10% kept ${k10}/4000`);
  assert.ok(k30 > 1000 && k30 < 1400, `30% kept ${k30}/4000`);
});

test('0% keeps nothing, 100% keeps everything at th:0 and reads no columns', () => {
  const none = samplerFor([{ name: 'p', type: 'probabilistic', probabilistic: { sampling_percentage: 0 } }]);
  assert.equal(none.decide(trace([{}], traceIdWithRandomness((1n << 56n) - 1n)), 0).keep, false);
  const all = samplerFor([{ name: 'p', type: 'probabilistic', probabilistic: { sampling_percentage: 100 } }]);
  assert.deepEqual(all.decide(summaryOnly(trace([{}], traceIdWithRandomness(0n))), 0), { keep: true, policy: 'p', threshold: '0' });
  assert.deepEqual(all.requiredColumns, []);
});

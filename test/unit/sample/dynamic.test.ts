import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PartialSpanColumns } from '../../../src/lake/span-schema.ts';
import type { Sampler, TraceData } from '../../../src/sample/sampler.ts';
import { probabilityToThreshold, thresholdFromHex, thresholdToHex } from '../../../src/sample/threshold.ts';
import { randomnessFromTraceId } from '../../../src/sample/policies/trace-view.ts';
import { counterValue, samplerDeps, samplerFor, trace, traceIdWithRandomness } from './helpers.ts';

const TWO_56 = 2 ** 56;

/** Deterministic 56-bit randomness (splitmix64's mixer), so runs are repeatable. */
function randomness(seed: number): () => bigint {
  let s = BigInt(seed);
  return () => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return (z ^ (z >> 31n)) & ((1n << 56n) - 1n);
  };
}

/** A one-span root trace of service `svc`, operation `op`, read from the columns the policy asks for. */
function opTrace(op: string, traceId: string, status = 0, traceState: string | null = null): TraceData {
  const spans: PartialSpanColumns = {
    length: 1,
    trace_id: [traceId],
    service_name: ['svc'],
    operation_name: [op],
    span_kind: [2],
    status_code: [status],
    trace_state: [traceState],
  };
  return {
    summary: { traceId, spanCount: 1, errorCount: status === 2 ? 1 : 0, minStartNs: 0n, maxEndNs: 1n, bytes: 100, hasRoot: true, firstSeenMs: 0, lastSeenMs: 0, lastReceivedMs: 0 },
    spans,
  };
}

/** The sample rate a `th` stands for: 2^56 / (2^56 - T). */
function rateOf(th: string): number {
  return TWO_56 / (TWO_56 - Number(thresholdFromHex(th)!));
}

const dynamic = (extra: object = {}) => ({
  name: 'dyn',
  type: 'dynamic',
  dynamic: { key_fields: ['service.name', 'span.name'], goal_throughput_per_sec: 100, ...extra },
});

interface KeyStats {
  seen: number;
  kept: number;
  ths: Set<string>;
  lastTh: string;
}

/**
 * Skewed load on a fake clock: `hot` at 1000 traces/s, three `warm-*` at 50/s, five `rare-*` at one
 * every 10 s (0.1/s). Goal 100 spans/s over 30 s intervals: a 3000-span budget per interval. In the
 * steady state the averages are the per-interval counts (30000, 1500 ×3, 3 ×5); Refinery's split
 * gives each key log10(avg)/Σlog10 of the budget (Σ = 16.391), the rare keys fit in theirs (rate 1)
 * and hand the rest to the keys after them in sorted order (the warm ones), so:
 *   hot:    share 819.4 → rate 30000/819.4 = 36.61, 27.32 kept/s
 *   warm-*: share 721.9 → rate 1500/721.9 = 2.078, 24.06 kept/s each
 *   rare-*: rate 1, 0.1 kept/s each — all of them, at th:0
 * for 100 kept spans/s in total.
 */
test('dynamic: on a skewed load the kept throughput meets the goal, per key as the EMA split assigns it, rare keys always kept', () => {
  const sampler = samplerFor([dynamic()]);
  const next = randomness(1);
  const stats = new Map<string, KeyStats>();
  const warmUpS = 240;
  const measureS = 480;
  const rareKeys = ['rare-1', 'rare-2', 'rare-3', 'rare-4', 'rare-5'];
  for (let sec = 0; sec < warmUpS + measureS; sec++) {
    for (let ms = 0; ms < 1000; ms++) {
      const now = sec * 1000 + ms;
      const ops: string[] = ['hot'];
      if (ms % 20 === 0) ops.push('warm-1', 'warm-2', 'warm-3');
      if (ms === 500 && sec % 10 < rareKeys.length) ops.push(rareKeys[sec % 10]!);
      for (const op of ops) {
        const r = next();
        const d = sampler.decide(opTrace(op, traceIdWithRandomness(r)), now);
        if (sec < warmUpS) continue;
        let s = stats.get(op);
        if (s === undefined) stats.set(op, (s = { seen: 0, kept: 0, ths: new Set(), lastTh: '' }));
        s.seen++;
        if (!d.keep) continue;
        s.kept++;
        assert.equal(d.policy, 'dyn');
        assert.ok(d.threshold !== null, 'a dynamic keep has a known threshold');
        // th is truthful: the trace's randomness passes it.
        assert.ok(r >= thresholdFromHex(d.threshold)!, `kept ${op} with R below th:${d.threshold}`);
        s.ths.add(d.threshold);
        s.lastTh = d.threshold;
      }
    }
  }
  const keptPerSec = (op: string) => stats.get(op)!.kept / measureS;
  let total = 0;
  for (const s of stats.values()) total += s.kept / measureS;
  assert.ok(Math.abs(total - 100) <= 10, `total kept ${total.toFixed(2)} spans/s, goal 100`);

  const within10 = (got: number, want: number, what: string) =>
    assert.ok(Math.abs(got - want) <= 0.1 * want, `${what}: ${got.toFixed(3)}, expected ${want} ± 10%`);
  within10(keptPerSec('hot'), 27.32, 'hot kept/s');
  for (const w of ['warm-1', 'warm-2', 'warm-3']) within10(keptPerSec(w), 24.06, `${w} kept/s`);

  // Once the averages have settled, the rate kept spans carry (their th) is the one the split assigns.
  const lastRate = (op: string) => rateOf(stats.get(op)!.lastTh);
  assert.ok(Math.abs(lastRate('hot') / 36.61 - 1) < 0.005, `hot rate ${lastRate('hot')}`);
  for (const w of ['warm-1', 'warm-2', 'warm-3']) assert.ok(Math.abs(lastRate(w) / 2.078 - 1) < 0.005, `${w} rate ${lastRate(w)}`);

  for (const op of rareKeys) {
    const s = stats.get(op)!;
    assert.ok(s.seen >= 40, `${op} seen ${s.seen}`);
    assert.equal(s.kept, s.seen, `every ${op} trace is kept`);
    assert.deepEqual([...s.ths.keys()], ['0'], `${op} is kept at th:0`);
  }
});

test('dynamic: decisions in batches (one clock reading per scan, a 13 s period, so 2 or 3 scans per 30 s interval) still meet the goal', () => {
  const sampler = samplerFor([dynamic()]);
  const next = randomness(2);
  let kept = 0;
  let now = 0;
  const scanMs = 13_000;
  const measureFromMs = 200_000;
  while (now < 800_000) {
    // A scan decides the traffic since the previous one at a single `now`: 1000 traces/s of `a`, 100/s of `b`.
    for (let i = 0; i < (scanMs / 1000) * 1100; i++) {
      const d = sampler.decide(opTrace(i % 11 === 0 ? 'b' : 'a', traceIdWithRandomness(next())), now);
      if (d.keep && now >= measureFromMs) kept++;
    }
    now += scanMs;
  }
  const perSec = kept / ((now - measureFromMs) / 1000);
  assert.ok(Math.abs(perSec - 100) <= 10, `kept ${perSec.toFixed(2)} spans/s, goal 100`);
});

test('dynamic: before the first adjustment every key is sampled at initial_sample_rate', () => {
  const sampler = samplerFor([dynamic({ initial_sample_rate: 4 })]);
  const th = thresholdToHex(probabilityToThreshold(1 / 4));
  assert.equal(th, 'c');
  const high = sampler.decide(opTrace('x', traceIdWithRandomness((1n << 56n) - 1n)), 0);
  assert.deepEqual(high, { keep: true, policy: 'dyn', threshold: 'c' });
  assert.equal(sampler.decide(opTrace('x', traceIdWithRandomness(1n)), 1).keep, false);
});

test('dynamic: spans are counted, not traces (goal_throughput_per_sec is in spans, as Refinery counts them)', () => {
  const run = (spansPerTrace: number): number => {
    const sampler = samplerFor([dynamic({ goal_throughput_per_sec: 50 })]);
    const next = randomness(3);
    let keptSpans = 0;
    for (let ms = 0; ms < 600_000; ms += 10) {
      const t = opTrace('a', traceIdWithRandomness(next()));
      t.summary.spanCount = spansPerTrace;
      if (sampler.decide(t, ms).keep && ms >= 150_000) keptSpans += spansPerTrace;
    }
    return keptSpans / 450;
  };
  for (const n of [1, 5]) {
    const perSec = run(n);
    assert.ok(Math.abs(perSec - 50) <= 5, `${n}-span traces: kept ${perSec.toFixed(2)} spans/s, goal 50`);
  }
});

test('dynamic: with another policy keeping the same trace the smaller threshold wins', () => {
  const sampler = samplerFor([dynamic({ initial_sample_rate: 4 }), { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }]);
  // Randomness too low for rate 4: only the status_code vote keeps it, at th:0.
  assert.deepEqual(sampler.decide(opTrace('x', traceIdWithRandomness(5n), 2), 0), { keep: true, policy: 'errors', threshold: '0' });
  // Both keep: th:0 (kept with certainty by the error policy).
  assert.deepEqual(sampler.decide(opTrace('x', traceIdWithRandomness((1n << 56n) - 1n), 2), 0), { keep: true, policy: 'dyn', threshold: '0' });
  // Only the dynamic policy keeps: its th.
  assert.deepEqual(sampler.decide(opTrace('x', traceIdWithRandomness((1n << 56n) - 1n)), 0), { keep: true, policy: 'dyn', threshold: 'c' });
});

test('dynamic: an rv in the tracestate is the randomness, as for probabilistic', () => {
  const sampler = samplerFor([dynamic({ initial_sample_rate: 4 })]);
  const t = opTrace('x', traceIdWithRandomness(0n), 0, 'ot=rv:ffffffffffffff');
  assert.equal(sampler.decide(t, 0).keep, true);
  assert.equal(sampler.decide(opTrace('x', traceIdWithRandomness((1n << 56n) - 1n), 0, 'ot=rv:00000000000001'), 0).keep, false);
  assert.equal(randomnessFromTraceId(t.summary.traceId), 0n);
});

test('dynamic: columns are read only when the policy is configured, and only those its fields need', () => {
  assert.deepEqual(samplerFor([{ name: 'a', type: 'always_sample' }]).requiredColumns, []);
  const cols = (fields: string[]): string[] =>
    [...samplerFor([{ name: 'd', type: 'dynamic', dynamic: { key_fields: fields, goal_throughput_per_sec: 1 } }]).requiredColumns].sort();
  assert.deepEqual(cols(['service.name', 'span.name']), ['operation_name', 'service_name', 'trace_state']);
  assert.deepEqual(cols(['span.kind', 'span.status', 'http.route']), ['attributes', 'resource', 'span_kind', 'status_code', 'trace_state']);
});

test('dynamic: keys come from every span, values deduplicated and sorted, so span order does not matter', () => {
  // Two traces with the same routes in different order share one key: after the first adjustment
  // the second is not a new key (rate 1) but has the learned rate.
  const sampler: Sampler = samplerFor([
    { name: 'd', type: 'dynamic', dynamic: { key_fields: ['http.route', 'deployment'], goal_throughput_per_sec: 1, adjustment_interval_secs: 10, initial_sample_rate: 1 } },
  ]);
  const next = randomness(4);
  const mk = (routes: string[]) =>
    trace(
      routes.map((r, i) => ({ attrs: { 'http.route': r }, resource: { deployment: 'prod' }, root: i === 0 })),
      traceIdWithRandomness(next()),
    );
  for (let ms = 0; ms < 10_000; ms += 5) sampler.decide(mk(['/a', '/b', '/a']), ms);
  // At 10 s the interval ends: 2000 traces of 3 spans (6000 spans) against a budget of 10 spans.
  const kept = [];
  for (let i = 0; i < 3000; i++) kept.push(sampler.decide(mk(['/b', '/a']), 10_000 + i / 10).threshold);
  const th = kept.find((t) => t !== null);
  assert.ok(th !== undefined && th !== '0', `expected a learned rate, got ${String(th)}`);
  assert.ok(rateOf(th) > 100, `rate ${rateOf(th)}`);
  // A trace with another route set is a new key: kept at rate 1.
  assert.deepEqual(sampler.decide(mk(['/c']), 10_500), { keep: true, policy: 'd', threshold: '0' });
});

test('dynamic: traces beyond max_keys are counted in tailsampler_dynamic_key_overflow_total and get overflow_sample_rate', async () => {
  const deps = samplerDeps();
  const sampler = samplerFor([dynamic({ max_keys: 2, overflow_sample_rate: 4, initial_sample_rate: 1, burst_multiple: 0 })], deps);
  // The series exists from the start.
  assert.equal(await counterValue(deps.metrics.dynamicKeyOverflow, { policy: 'dyn' }), 0);
  const high = traceIdWithRandomness((1n << 56n) - 1n);
  for (const op of ['a', 'b', 'c', 'd']) sampler.decide(opTrace(op, high), 0);
  assert.equal(await counterValue(deps.metrics.dynamicKeyOverflow, { policy: 'dyn' }), 2);
  // After the first interval (a and b fill the new interval's counts again) a never-counted key is
  // sampled at overflow_sample_rate (th:c = 1/4).
  sampler.decide(opTrace('a', high), 30_000);
  sampler.decide(opTrace('b', high), 30_000);
  assert.deepEqual(sampler.decide(opTrace('e', high), 30_001), { keep: true, policy: 'dyn', threshold: 'c' });
  assert.equal(sampler.decide(opTrace('e', traceIdWithRandomness(1n)), 30_002).keep, false);
});

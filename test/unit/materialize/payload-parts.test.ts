import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partitionBatch } from '../../../src/lake/parquet/partition.ts';
import type { KafkaMetadata, WriteSpanColumns } from '../../../src/lake/span-schema.ts';
import { PayloadParts } from '../../../src/materialize/payload-parts.ts';
import { CorruptPayloadError } from '../../../src/otlp/errors.ts';
import { requestsToColumns } from '../../../src/otlp/to-columns.ts';
import { makeTrace, toProtobuf } from '../../support/traces.ts';
import { BAD_UTF8, PLACEHOLDER, withInvalidUtf8 } from '../../fixtures/otlp/invalid-utf8.ts';

const DAY_MS = 86_400_000;

/** A request of `traces` traces of 1–6 spans, two resources, spread over three days. */
function request(traces: number, seed: number): Uint8Array {
  const base = Date.UTC(2026, 11, 1);
  const spans = () =>
    Array.from({ length: traces }, (_, t) => makeTrace({ n: 1 + ((t + seed) % 6), startMs: base + ((t * 7 + seed) % 3) * DAY_MS + t, durationMs: 5 })).flat();
  return toProtobuf([
    { service: `svc-${seed}-a`, scope: { name: 's' }, spans: spans() },
    { service: `svc-${seed}-b`, scope: { name: 't', version: '1' }, spans: spans() },
  ]);
}

/** Row i of a batch as one comparable value (the columns the decoder fills from each level). */
function row(b: WriteSpanColumns, i: number): string {
  return JSON.stringify([
    b.trace_id[i],
    b.span_id[i],
    b.operation_name[i],
    b.service_name[i],
    b.resource[i],
    b.scope[i],
    Buffer.from(b.attributes[i] as Uint8Array).toString(),
    String(b.start_time_unix_nano[i]),
    b.span_size[i],
    b.receivedMs?.[i],
    String(b._kafka_metadata[i]?.offset ?? null),
  ]);
}

const rows = (b: WriteSpanColumns): string[] => Array.from({ length: b.length }, (_, i) => row(b, i));

const payloads = [request(40, 1), request(25, 2), request(60, 3)];
const kafka: KafkaMetadata[] = payloads.map((_, i) => ({ partition: 0, offset: BigInt(100 + i), timestamp: BigInt(5 + i) }));
const received = [1_000, 2_000, 3_000];
const noCorrupt = (p: number, e: CorruptPayloadError): never => assert.fail(`payload ${p}: ${e.message}`);

test('each part holds the spans of one table partition, parts in partition order, all of them once, each in payload and wire order', () => {
  const whole = requestsToColumns(payloads, undefined, kafka, received);
  const all = rows(whole);
  const parts = new PayloadParts(payloads, kafka, received, noCorrupt, false);
  assert.equal(parts.length, whole.length);
  assert.ok(parts.parts > 16, `three days of 16 buckets (${parts.parts} parts)`);
  const seen: string[] = [];
  let last = -Infinity;
  for (let i = 0; i < parts.parts; i++) {
    const part = parts.part(i);
    const slices = partitionBatch(part);
    assert.equal(slices.length, 1, `part ${i} is one partition`);
    const { timestamp_day: day, trace_id_bucket: bucket } = slices[0]!.partition;
    assert.ok(day * 16 + bucket > last, 'parts in (day, bucket) order');
    last = day * 16 + bucket;
    const mine = rows(part);
    // In the order the whole batch has them.
    const at = mine.map((r) => all.indexOf(r));
    assert.ok(at.every((a, k) => a >= 0 && (k === 0 || a > at[k - 1]!)), `part ${i} rows in batch order`);
    seen.push(...mine);
  }
  assert.deepEqual(seen.sort(), [...all].sort());
});

test('a payload left out is out of every part; kept parts are handed out again, until the payloads are released', () => {
  const parts = new PayloadParts(payloads, kafka, received, noCorrupt, true);
  const first = parts.part(0);
  assert.equal(parts.part(0), first, 'kept: decoded once');
  parts.exclude(1);
  const without = requestsToColumns([payloads[0]!, payloads[2]!], undefined, [kafka[0]!, kafka[2]!], [received[0]!, received[2]!]);
  assert.equal(parts.length, without.length);
  const seen: string[] = [];
  for (let i = 0; i < parts.parts; i++) seen.push(...rows(parts.part(i)));
  assert.deepEqual(seen.sort(), rows(without).sort());
  parts.release();
  assert.ok(parts.part(0).length > 0, 'a kept part outlives the payloads');

  const unkept = new PayloadParts(payloads, kafka, received, noCorrupt, false);
  assert.notEqual(unkept.part(0), unkept.part(0), 'not kept: decoded each time');
  unkept.release();
  assert.throws(() => unkept.part(0), /released/);
});

test('a payload whose framing is damaged is reported at once; one whose spans are damaged, when its part is decoded, naming it', () => {
  const reported: number[] = [];
  const truncated = payloads[1]!.subarray(0, 50);
  const parts = new PayloadParts([payloads[0]!, truncated], kafka, received, (p, e) => {
    assert.ok(e instanceof CorruptPayloadError);
    reported.push(p);
  }, false);
  assert.deepEqual(reported, [1]);
  assert.equal(parts.length, requestsToColumns([payloads[0]!]).length);

  const spans = makeTrace({ n: 3, startMs: Date.now(), durationMs: 10 });
  spans[2]!.attributes.push(['note', { s: PLACEHOLDER }]);
  const bad = withInvalidUtf8(toProtobuf([{ service: 'svc', scope: { name: 's' }, spans }]), BAD_UTF8.invalid);
  const mixed = new PayloadParts([payloads[0]!, bad], kafka, received, noCorrupt, false);
  assert.equal(mixed.length, requestsToColumns([payloads[0]!]).length + 3, 'the framing is fine: its spans are indexed');
  const errors: CorruptPayloadError[] = [];
  for (let i = 0; i < mixed.parts; i++) {
    try {
      mixed.part(i);
    } catch (e) {
      assert.ok(e instanceof CorruptPayloadError);
      errors.push(e);
    }
  }
  assert.deepEqual(errors.map((e) => e.payload), [1], 'the one part with the bad span throws, naming payload 1');
  mixed.exclude(1);
  for (let i = 0; i < mixed.parts; i++) mixed.part(i);
  assert.equal(mixed.length, requestsToColumns([payloads[0]!]).length);
});

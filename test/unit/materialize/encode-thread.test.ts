import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodePart } from '../../../src/lake/iceberg/append-files.ts';
import type { EncodedFile } from '../../../src/lake/table.ts';
import { EncodeThread, EncodeThreadError } from '../../../src/materialize/encode-thread.ts';
import { PayloadParts } from '../../../src/materialize/payload-parts.ts';
import { CorruptPayloadError } from '../../../src/otlp/errors.ts';
import { makeTrace, toProtobuf } from '../../support/traces.ts';
import { BAD_UTF8, PLACEHOLDER, withInvalidUtf8 } from '../../fixtures/otlp/invalid-utf8.ts';

const DAY_MS = 86_400_000;
const ROW_GROUP = 50;

/** A request of `traces` traces of 1–6 spans over two days. */
function request(traces: number, seed: number): Uint8Array {
  const base = Date.UTC(2026, 11, 1);
  const spans = Array.from({ length: traces }, (_, t) => makeTrace({ n: 1 + ((t + seed) % 6), startMs: base + ((t + seed) % 2) * DAY_MS + t, durationMs: 5 })).flat();
  return toProtobuf([{ service: `svc-${seed}`, scope: { name: 's' }, spans }]);
}

const payloads = [request(40, 1), request(60, 2)];
const kafka = payloads.map((_, i) => ({ partition: 1, offset: BigInt(7 + i), timestamp: BigInt(1_000 + i) }));
const received = [1_000, 2_000];
const noCorrupt = (p: number): never => assert.fail(`payload ${p} reported`);

async function collect(files: AsyncIterable<EncodedFile[]>): Promise<EncodedFile[][]> {
  const out: EncodedFile[][] = [];
  for await (const f of files) out.push(f);
  return out;
}

test('a batch encoded on the thread gives, part by part, the files encoding it on this thread gives', async () => {
  const thread = new EncodeThread();
  try {
    const here = new PayloadParts(payloads, kafka, received, noCorrupt, false);
    const there = new PayloadParts(payloads, kafka, received, noCorrupt, false, thread);
    assert.ok(there.encoded !== undefined && here.encoded === undefined);
    const got = await collect(there.encoded(ROW_GROUP));
    assert.equal(got.length, here.parts);
    assert.ok(here.parts > 4, `two days of buckets (${here.parts} parts)`);
    for (let i = 0; i < here.parts; i++) {
      const want = encodePart(here.part(i), ROW_GROUP);
      assert.equal(got[i]!.length, want.length);
      got[i]!.forEach((f, j) => {
        assert.ok(Buffer.from(f.bytes).equals(Buffer.from(want[j]!.bytes)), `part ${i} file ${j}: same bytes`);
        assert.deepEqual({ ...f, bytes: null }, { ...want[j]!, bytes: null });
      });
    }
    // A second batch on the same thread, with a payload left out.
    there.exclude(0);
    here.exclude(0);
    const rows = (await collect(there.encoded(ROW_GROUP))).flat().reduce((n, f) => n + f.metrics.recordCount, 0);
    assert.equal(rows, here.length);
  } finally {
    await thread.close();
  }
});

test('a damaged span fails its batch on the thread with the CorruptPayloadError naming its payload; without it the batch encodes', async () => {
  const thread = new EncodeThread();
  try {
    const spans = makeTrace({ n: 3, startMs: Date.now(), durationMs: 10 });
    spans[2]!.attributes.push(['note', { s: PLACEHOLDER }]);
    const bad = withInvalidUtf8(toProtobuf([{ service: 'svc', scope: { name: 's' }, spans }]), BAD_UTF8.invalid);
    const parts = new PayloadParts([payloads[0]!, bad], kafka, received, noCorrupt, false, thread);
    await assert.rejects(collect(parts.encoded!(ROW_GROUP)), (e) => e instanceof CorruptPayloadError && e.payload === 1 && /UTF-8/i.test(e.message));
    parts.exclude(1);
    const files = (await collect(parts.encoded!(ROW_GROUP))).flat();
    assert.equal(files.reduce((n, f) => n + f.metrics.recordCount, 0), new PayloadParts([payloads[0]!], kafka, received, noCorrupt, false).length);
  } finally {
    await thread.close();
  }
});

test('a thread stopped while encoding fails that batch with EncodeThreadError; a reader that stops early leaves it ready; the next batch starts a new one', async () => {
  const thread = new EncodeThread();
  const parts = new PayloadParts(payloads, kafka, received, noCorrupt, false, thread);
  // Stopping after the first part: the rest is not waited for, and the thread takes the next batch.
  for await (const first of parts.encoded!(ROW_GROUP)) {
    assert.ok(first.length > 0);
    break;
  }
  assert.equal((await collect(parts.encoded!(ROW_GROUP))).length, parts.parts);
  // Stopped under a batch.
  const failed = assert.rejects(collect(parts.encoded!(ROW_GROUP)), (e) => e instanceof EncodeThreadError && e.code === 'TS_MATERIALIZE_ENCODE_THREAD' && e.retryable);
  await thread.close();
  await failed;
  try {
    assert.equal((await collect(parts.encoded!(ROW_GROUP))).length, parts.parts, 'a new thread encodes the batch');
  } finally {
    await thread.close();
  }
});

import { writeFileSync } from 'node:fs';

/** One trace of a version 1 or 2 evaluator checkpoint, as those versions stored it. */
export interface LegacyTrace {
  traceId: string;
  state: number;
  spanCount: number;
  errorCount: number;
  bytes: number;
  minStart: bigint;
  maxEnd: bigint;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Version 2 only. */
  receiptLagMs: number;
  firstSeq: number;
  lastSeq: number;
}

/** Writes a checkpoint in the layout of versions 1 and 2 (32-bit error counts, float64 bytes and seen times). */
export function writeLegacyCheckpoint(path: string, version: 1 | 2, sequenceNumber: number, traces: readonly LegacyTrace[]): void {
  const n = traces.length;
  const keys = new Uint32Array(n * 4);
  traces.forEach((t, e) => {
    for (let w = 0; w < 4; w++) keys[e * 4 + w] = Number.parseInt(t.traceId.slice(w * 8, w * 8 + 8), 16);
  });
  const arrays: ArrayBufferView[] = [
    keys,
    Uint8Array.from(traces, (t) => t.state),
    Uint32Array.from(traces, (t) => t.spanCount),
    Uint32Array.from(traces, (t) => t.errorCount),
    Float64Array.from(traces, (t) => t.bytes),
    BigInt64Array.from(traces, (t) => t.minStart),
    BigInt64Array.from(traces, (t) => t.maxEnd),
    Float64Array.from(traces, (t) => t.firstSeenMs),
    Float64Array.from(traces, (t) => t.lastSeenMs),
    ...(version === 2 ? [Uint32Array.from(traces, (t) => t.receiptLagMs)] : []),
    Uint32Array.from(traces, (t) => t.firstSeq),
    Uint32Array.from(traces, (t) => t.lastSeq),
  ];
  const header = Buffer.from(`${JSON.stringify({ magic: 'tailsampler-evaluator-checkpoint', version, sequenceNumber, count: n })}\n`);
  writeFileSync(path, Buffer.concat([header, ...arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))]));
}

import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TailsamplerError } from '../errors.ts';
import { TRACE_FIELD_NAMES, TRACE_FIELDS, TraceTable, U32_MAX, type TraceArrays, type TraceField } from './trace-table.ts';

const MAGIC = 'tailsampler-evaluator-checkpoint';
const VERSION = 3;

type Ctor = Uint8ArrayConstructor | Uint32ArrayConstructor | Float64ArrayConstructor | BigInt64ArrayConstructor;
/**
 * Versions 1 and 2 held these arrays, in this order: error counts as 32 bits, bytes and seen times
 * as float64 (seen times in ms since epoch). Version 1 came before `receiptLagMs` (read as 0:
 * received when seen). Version 3 holds the table's own arrays and the base of its seen times.
 */
const LEGACY_FIELDS: readonly (readonly [string, Ctor, number])[] = [
  ['keys', Uint32Array, 4],
  ['state', Uint8Array, 1],
  ['spanCount', Uint32Array, 1],
  ['errorCount', Uint32Array, 1],
  ['bytes', Float64Array, 1],
  ['minStart', BigInt64Array, 1],
  ['maxEnd', BigInt64Array, 1],
  ['firstSeenMs', Float64Array, 1],
  ['lastSeenMs', Float64Array, 1],
  ['receiptLagMs', Uint32Array, 1],
  ['firstSeq', Uint32Array, 1],
  ['lastSeq', Uint32Array, 1],
];
const LEGACY_BY_VERSION: Readonly<Record<number, typeof LEGACY_FIELDS>> = {
  1: LEGACY_FIELDS.filter(([f]) => f !== 'receiptLagMs'),
  2: LEGACY_FIELDS,
};

/** The evaluator's live state at a table sequence number: everything up to it is folded into `traces`. */
export interface Checkpoint {
  sequenceNumber: number;
  traces: TraceTable;
}

/**
 * Writes the live summaries as a JSON header line followed by each array's live entries, written
 * straight from the table's own arrays (no copy), then renamed into place, so a restart resumes from
 * the last scan instead of re-reading the table's history.
 */
export async function writeCheckpoint(path: string, sequenceNumber: number, traces: TraceTable): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    const baseMs = Number.isNaN(traces.baseMs) ? null : traces.baseMs;
    await fh.write(`${JSON.stringify({ magic: MAGIC, version: VERSION, sequenceNumber, count: traces.size, baseMs })}\n`);
    const arrays = traces.arrays();
    for (const f of TRACE_FIELD_NAMES) await fh.write(liveBytes(arrays[f], traces.size * TRACE_FIELDS[f][1]));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

function liveBytes(a: TraceArrays[TraceField] | InstanceType<Ctor>, elements: number): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, elements * a.BYTES_PER_ELEMENT);
}

export async function readCheckpoint(path: string): Promise<Checkpoint | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const nl = head.subarray(0, bytesRead).indexOf(10);
    let header: { magic?: string; version?: number; sequenceNumber?: number; count?: number; baseMs?: number | null };
    try {
      header = JSON.parse(head.subarray(0, nl < 0 ? 0 : nl).toString('utf8')) as typeof header;
    } catch (cause) {
      throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} has no valid header`, { cause });
    }
    const { version, sequenceNumber, count } = header;
    const legacy = LEGACY_BY_VERSION[version ?? 0];
    if (header.magic !== MAGIC || (legacy === undefined && version !== VERSION) || typeof count !== 'number' || typeof sequenceNumber !== 'number') {
      throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is not a version 1–${VERSION} checkpoint`);
    }
    let offset = nl + 1;
    const readInto = async (dst: Uint8Array): Promise<void> => {
      const { bytesRead: n } = await fh.read(dst, 0, dst.length, offset);
      if (n !== dst.length) throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is truncated`);
      offset += n;
    };
    if (legacy !== undefined) return { sequenceNumber, traces: await readLegacy(count, legacy, readInto) };
    const traces = await TraceTable.restore(count, header.baseMs ?? Number.NaN, async (arrays) => {
      for (const f of TRACE_FIELD_NAMES) await readInto(liveBytes(arrays[f], count * TRACE_FIELDS[f][1]));
    });
    return { sequenceNumber, traces };
  } finally {
    await fh.close();
  }
}

/**
 * Restores a version 1 or 2 checkpoint: arrays of the same type are read in place, the others
 * through a copy, narrowed as `fold` would have stored them; the seen times' base is put where the
 * table's first fold would put it for the latest of them.
 */
async function readLegacy(count: number, fields: typeof LEGACY_FIELDS, readInto: (dst: Uint8Array) => Promise<void>): Promise<TraceTable> {
  const wide = new Map<string, InstanceType<Ctor>>();
  let baseMs = Number.NaN;
  const traces = await TraceTable.restore(count, Number.NaN, async (arrays) => {
    for (const [f, ctor, width] of fields) {
      const own = (arrays as Record<string, TraceArrays[TraceField]>)[f];
      const dst = own !== undefined && own.constructor === ctor ? own : new ctor(count * width);
      await readInto(liveBytes(dst, count * width));
      if (dst !== own) wide.set(f, dst);
    }
    const errors = wide.get('errorCount') as Uint32Array;
    const bytes = wide.get('bytes') as Float64Array;
    const first = wide.get('firstSeenMs') as Float64Array;
    const last = wide.get('lastSeenMs') as Float64Array;
    let latest = Number.NEGATIVE_INFINITY;
    for (let e = 0; e < count; e++) latest = Math.max(latest, last[e]!);
    if (count > 0) baseMs = latest - 2 ** 31;
    for (let e = 0; e < count; e++) {
      arrays.errorCount[e] = Math.min(0xffff, errors[e]!);
      arrays.bytes[e] = Math.min(U32_MAX, bytes[e]!);
      arrays.firstSeen[e] = Math.max(0, first[e]! - baseMs);
      arrays.lastSeen[e] = last[e]! - baseMs;
    }
  });
  traces.baseMs = baseMs;
  return traces;
}

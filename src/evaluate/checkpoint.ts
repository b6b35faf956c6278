import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TailsamplerError } from '../errors.ts';
import { TRACE_FIELD_NAMES, TRACE_FIELDS, TraceTable, U32_MAX, type TraceArrays, type TraceField } from './trace-table.ts';

const MAGIC = 'tailsampler-evaluator-checkpoint';
const VERSION = 4;

type Ctor = Uint8ArrayConstructor | Uint32ArrayConstructor | Float64ArrayConstructor | BigInt64ArrayConstructor;
/**
 * Versions 1 and 2 held these arrays, in this order: error counts as 32 bits, bytes and seen times
 * as float64 (seen times in ms since epoch). Version 1 came before `receiptLagMs` (read as 0:
 * received when seen). Version 3 holds the table's own arrays and the base of its seen times;
 * version 4 adds the header's `spilled` list (a version 3 checkpoint is read as having none).
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

/**
 * Summaries of live traces moved to a file of their own (src/evaluate/summary-spill.ts), in the same
 * format as a checkpoint: the checkpoint names them, so they are part of the state it saves.
 */
export interface SpilledSegment {
  /** File name, in the spill directory. */
  file: string;
  /** Summaries it holds. */
  count: number;
  /** The earliest time one of them is ready (inactive or too old), ms since epoch. */
  dueMs: number;
  /** The lowest first sequence number among them. */
  minFirstSeq: number;
}

/**
 * The evaluator's live state at a table sequence number: everything up to it is folded into `traces`
 * and the `spilled` segments (none before version 4).
 */
export interface Checkpoint {
  sequenceNumber: number;
  traces: TraceTable;
  spilled: SpilledSegment[];
}

/**
 * Writes the live summaries as a JSON header line followed by each array's live entries, written
 * straight from the table's own arrays (no copy), then renamed into place, so a restart resumes from
 * the last scan instead of re-reading the table's history. The header names the spilled segments.
 */
export async function writeCheckpoint(path: string, sequenceNumber: number, traces: TraceTable, spilled: readonly SpilledSegment[] = []): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    const baseMs = Number.isNaN(traces.baseMs) ? null : traces.baseMs;
    await fh.write(`${JSON.stringify({ magic: MAGIC, version: VERSION, sequenceNumber, count: traces.size, baseMs, spilled })}\n`);
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

function isSegment(s: unknown): s is SpilledSegment {
  const g = s as Partial<SpilledSegment> | null;
  return (
    typeof g === 'object' && g !== null && typeof g.file === 'string' && /^[\w.-]+$/.test(g.file) &&
    Number.isInteger(g.count) && typeof g.dueMs === 'number' && Number.isInteger(g.minFirstSeq)
  );
}

/** The header line: with a long list of spilled segments it may not fit the first read. */
async function readHeaderLine(fh: FileHandle): Promise<{ head: Buffer; nl: number }> {
  let head = Buffer.alloc(4096);
  for (;;) {
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const nl = head.subarray(0, bytesRead).indexOf(10);
    if (nl >= 0 || bytesRead < head.length) return { head, nl };
    head = Buffer.alloc(head.length * 2);
  }
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
    const { head, nl } = await readHeaderLine(fh);
    let header: { magic?: string; version?: number; sequenceNumber?: number; count?: number; baseMs?: number | null; spilled?: SpilledSegment[] };
    try {
      header = JSON.parse(head.subarray(0, nl < 0 ? 0 : nl).toString('utf8')) as typeof header;
    } catch (cause) {
      throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} has no valid header`, { cause });
    }
    const { version, sequenceNumber, count } = header;
    const legacy = LEGACY_BY_VERSION[version ?? 0];
    const spilled = header.spilled ?? [];
    if (
      header.magic !== MAGIC ||
      (legacy === undefined && version !== 3 && version !== VERSION) ||
      typeof count !== 'number' ||
      typeof sequenceNumber !== 'number' ||
      !Array.isArray(spilled) ||
      !spilled.every(isSegment)
    ) {
      throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is not a version 1–${VERSION} checkpoint (or names a spilled segment badly)`);
    }
    let offset = nl + 1;
    const readInto = async (dst: Uint8Array): Promise<void> => {
      const { bytesRead: n } = await fh.read(dst, 0, dst.length, offset);
      if (n !== dst.length) throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is truncated`);
      offset += n;
    };
    if (legacy !== undefined) return { sequenceNumber, traces: await readLegacy(count, legacy, readInto), spilled };
    const traces = await TraceTable.restore(count, header.baseMs ?? Number.NaN, async (arrays) => {
      for (const f of TRACE_FIELD_NAMES) await readInto(liveBytes(arrays[f], count * TRACE_FIELDS[f][1]));
    });
    return { sequenceNumber, traces, spilled };
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

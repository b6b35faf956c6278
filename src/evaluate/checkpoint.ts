import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../lake/file-io.ts';
import { TailsamplerError } from '../errors.ts';
import { emptySnapshot, TraceTable, type TraceTableSnapshot } from './trace-table.ts';

const MAGIC = 'tailsampler-evaluator-checkpoint';
const VERSION = 1;
const ARRAYS = [
  'keys', 'state', 'spanCount', 'errorCount', 'bytes', 'minStart', 'maxEnd', 'firstSeenMs', 'lastSeenMs', 'firstSeq', 'lastSeq',
] as const satisfies readonly (keyof TraceTableSnapshot)[];

/** The evaluator's live state at a table sequence number: everything up to it is folded into `traces`. */
export interface Checkpoint {
  sequenceNumber: number;
  traces: TraceTable;
}

/**
 * Writes the live summaries as a JSON header line followed by the raw typed arrays, atomically, so a
 * restart resumes from the last scan instead of re-reading the table's history.
 */
export async function writeCheckpoint(path: string, sequenceNumber: number, traces: TraceTable): Promise<void> {
  const snap = traces.snapshot();
  const header = Buffer.from(`${JSON.stringify({ magic: MAGIC, version: VERSION, sequenceNumber, count: snap.state.length })}\n`);
  const parts: Uint8Array[] = [header];
  for (const name of ARRAYS) {
    const a = snap[name];
    parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  await writeFileAtomic(path, Buffer.concat(parts));
}

export async function readCheckpoint(path: string): Promise<Checkpoint | null> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const nl = buf.indexOf(10);
  let header: { magic?: string; version?: number; sequenceNumber?: number; count?: number };
  try {
    header = JSON.parse(buf.subarray(0, nl).toString('utf8'));
  } catch (cause) {
    throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} has no valid header`, { cause });
  }
  if (header.magic !== MAGIC || header.version !== VERSION || typeof header.count !== 'number' || typeof header.sequenceNumber !== 'number') {
    throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is not a version ${VERSION} checkpoint`);
  }
  const snap = emptySnapshot(header.count);
  let offset = nl + 1;
  for (const name of ARRAYS) {
    const a = snap[name];
    if (offset + a.byteLength > buf.length) {
      throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is truncated`);
    }
    new Uint8Array(a.buffer).set(buf.subarray(offset, offset + a.byteLength));
    offset += a.byteLength;
  }
  return { sequenceNumber: header.sequenceNumber, traces: TraceTable.fromSnapshot(snap) };
}

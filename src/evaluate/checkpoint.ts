import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TailsamplerError } from '../errors.ts';
import { TRACE_FIELD_NAMES, TRACE_FIELDS, TraceTable, type TraceArrays, type TraceField } from './trace-table.ts';

const MAGIC = 'tailsampler-evaluator-checkpoint';
const VERSION = 2;
/** Arrays a checkpoint of each version holds: version 1 came before `receiptLagMs` (read as 0: received when seen). */
const FIELDS_BY_VERSION: Readonly<Record<number, readonly TraceField[]>> = {
  1: TRACE_FIELD_NAMES.filter((f) => f !== 'receiptLagMs'),
  2: TRACE_FIELD_NAMES,
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
    await fh.write(`${JSON.stringify({ magic: MAGIC, version: VERSION, sequenceNumber, count: traces.size })}\n`);
    const arrays = traces.arrays();
    for (const f of TRACE_FIELD_NAMES) await fh.write(liveBytes(arrays[f], traces.size * TRACE_FIELDS[f][1]));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

function liveBytes(a: TraceArrays[TraceField], elements: number): Uint8Array {
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
    let header: { magic?: string; version?: number; sequenceNumber?: number; count?: number };
    try {
      header = JSON.parse(head.subarray(0, nl < 0 ? 0 : nl).toString('utf8')) as typeof header;
    } catch (cause) {
      throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} has no valid header`, { cause });
    }
    const { sequenceNumber, count } = header;
    const fields = FIELDS_BY_VERSION[header.version ?? 0];
    if (header.magic !== MAGIC || fields === undefined || typeof count !== 'number' || typeof sequenceNumber !== 'number') {
      throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is not a version 1–${VERSION} checkpoint`);
    }
    let offset = nl + 1;
    const traces = await TraceTable.restore(count, async (arrays) => {
      for (const f of fields) {
        const dst = liveBytes(arrays[f], count * TRACE_FIELDS[f][1]);
        const { bytesRead: n } = await fh.read(dst, 0, dst.length, offset);
        if (n !== dst.length) throw new TailsamplerError('TS_EVALUATOR_CHECKPOINT_CORRUPT', `evaluator checkpoint ${path} is truncated`);
        offset += n;
      }
    });
    return { sequenceNumber, traces };
  } finally {
    await fh.close();
  }
}

import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TailsamplerError } from '../errors.ts';
import { emptySnapshot, KEY_WORDS, TraceTable, type TraceTableSnapshot } from './trace-table.ts';

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

/** Live entries copied per write: bounds the checkpoint's memory whatever the number of traces. */
const CHUNK = 65_536;

type Typed = TraceTableSnapshot[keyof TraceTableSnapshot];

/**
 * Writes the live summaries as a JSON header line followed by each array compacted to live entries,
 * streamed through one small reusable chunk per array (no copy of the table), then renamed into
 * place, so a restart resumes from the last scan instead of re-reading the table's history.
 */
export async function writeCheckpoint(path: string, sequenceNumber: number, traces: TraceTable): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(`${JSON.stringify({ magic: MAGIC, version: VERSION, sequenceNumber, count: traces.size })}\n`);
    const arrays = traces.arrays();
    for (const name of ARRAYS) await writeLive(fh, traces, arrays[name], name === 'keys' ? KEY_WORDS : 1);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function writeLive(fh: FileHandle, traces: TraceTable, src: Typed, width: number): Promise<void> {
  const chunk = new (src.constructor as new (n: number) => Typed)(CHUNK * width);
  let n = 0;
  const flush = async (): Promise<void> => {
    if (n > 0) await fh.write(new Uint8Array(chunk.buffer, 0, n * width * chunk.BYTES_PER_ELEMENT));
    n = 0;
  };
  for (let slot = 0; slot < traces.slots; slot++) {
    if (!traces.isLive(slot)) continue;
    (chunk as { set(a: ArrayLike<unknown>, o: number): void }).set(src.subarray(slot * width, slot * width + width), n * width);
    if (++n === CHUNK) await flush();
  }
  await flush();
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

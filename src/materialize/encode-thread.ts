/**
 * Decoding a commit's spans and encoding them as Parquet (zstd included) on a `worker_threads`
 * worker, so that the event loop only receives, reads the spool, writes files and commits: the
 * heaviest quarter or more of a span's work moves to the second core. One batch at a time (the
 * materializer commits one at a time); the worker is started on first use and again after it dies.
 */
import { Worker } from 'node:worker_threads';
import { TailsamplerError } from '../errors.ts';
import type { KafkaMetadata } from '../lake/span-schema.ts';
import type { EncodedFile } from '../lake/table.ts';
import { CorruptPayloadError } from '../otlp/errors.ts';
import { ParquetWriteError } from '../lake/parquet/write.ts';

/** What the worker is given for a batch. */
export interface EncodeRequest {
  id: number;
  payloads: readonly Uint8Array[];
  kafka: readonly (KafkaMetadata | null | undefined)[];
  receivedMs: readonly number[];
  /** Payloads left out (their spans did not decode). */
  excluded: readonly number[];
  rowGroupSize: number;
}

/** What the worker answers, in order: a message per part, then `done` (or an error, which ends it). */
export type EncodeReply =
  | { id: number; files: EncodedFile[] }
  | { id: number; done: true }
  | { id: number; error: { name: string; message: string; stack: string | undefined; payload: number | undefined } };

export class EncodeThreadError extends TailsamplerError {
  constructor(message: string, cause?: unknown) {
    super('TS_MATERIALIZE_ENCODE_THREAD', message, { cause });
    this.name = 'EncodeThreadError';
  }
}

/** Replies of one batch, waited for in order. */
class Inbox {
  readonly #queue: EncodeReply[] = [];
  #wake: (() => void) | null = null;

  push(r: EncodeReply): void {
    this.#queue.push(r);
    this.#wake?.();
    this.#wake = null;
  }

  async next(): Promise<EncodeReply> {
    while (this.#queue.length === 0) await new Promise<void>((resolve) => (this.#wake = resolve));
    return this.#queue.shift()!;
  }
}

export class EncodeThread {
  #worker: Worker | null = null;
  readonly #inboxes = new Map<number, Inbox>();
  #nextId = 1;

  /** The batch's spans encoded on the worker, each part's files as the worker finishes them. */
  async *encode(batch: Omit<EncodeRequest, 'id' | 'rowGroupSize'>, rowGroupSize: number): AsyncGenerator<EncodedFile[]> {
    const worker = this.#start();
    const id = this.#nextId++;
    const inbox = new Inbox();
    this.#inboxes.set(id, inbox);
    let finished = false;
    // Kept alive while a batch is on it (idle, it holds nothing and the process may exit around it).
    worker.ref();
    try {
      // The payloads are copied over (slices of the spool's read chunks: each chunk once).
      worker.postMessage({ ...batch, id, rowGroupSize } satisfies EncodeRequest);
      for (;;) {
        const r = await inbox.next();
        if ('done' in r) {
          finished = true;
          return;
        }
        if ('error' in r) {
          finished = true;
          throw rebuild(r.error);
        }
        yield r.files;
      }
    } finally {
      this.#inboxes.delete(id);
      if (this.#inboxes.size === 0) worker.unref();
      // The reader stopped early (a file write failed): the worker need not encode the rest.
      if (!finished && this.#worker === worker) worker.postMessage({ cancel: id });
    }
  }

  /** Stops the worker; a batch being encoded fails. */
  async close(): Promise<void> {
    const worker = this.#worker;
    if (worker === null) return;
    this.#failed(worker, 'the encode thread was stopped');
    await worker.terminate();
  }

  #start(): Worker {
    if (this.#worker !== null) return this.#worker;
    const worker = new Worker(new URL('./encode-worker.ts', import.meta.url));
    worker.on('message', (r: EncodeReply) => this.#inboxes.get(r.id)?.push(r));
    worker.on('error', (err: Error) => this.#failed(worker, `the encode thread failed: ${err.message}`));
    worker.on('exit', (code) => this.#failed(worker, `the encode thread exited (code ${code})`));
    this.#worker = worker;
    return worker;
  }

  /** The batches `worker` was encoding fail, and the next one starts a new worker. */
  #failed(worker: Worker, message: string): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    for (const [id, inbox] of this.#inboxes) inbox.push({ id, error: { name: 'EncodeThreadError', message, stack: undefined, payload: undefined } });
  }
}

/** The worker's error as the class the same failure has on this thread. */
function rebuild(e: { name: string; message: string; stack: string | undefined; payload: number | undefined }): Error {
  const err =
    e.name === 'CorruptPayloadError'
      ? new CorruptPayloadError(e.message, { payload: e.payload })
      : e.name === 'ParquetWriteError'
        ? new ParquetWriteError(e.message)
        : new EncodeThreadError(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/**
 * The encode thread's entry (a `worker_threads` worker, see encode-thread.ts): a commit's spool
 * payloads in, each table partition's Parquet files out, part by part. Holds nothing between batches.
 */
import { parentPort } from 'node:worker_threads';
import { encodePart } from '../lake/iceberg/append-files.ts';
import { CorruptPayloadError } from '../otlp/errors.ts';
import { PayloadParts } from './payload-parts.ts';
import type { EncodeReply, EncodeRequest } from './encode-thread.ts';

const port = parentPort;
if (port === null) throw new Error('encode-worker.ts runs as a worker thread only');

/** Batches whose reader stopped listening: their remaining parts are not encoded. */
const cancelled = new Set<number>();

port.on('message', (m: EncodeRequest | { cancel: number }) => {
  if ('cancel' in m) cancelled.add(m.cancel);
  else void encodeBatch(m);
});

async function encodeBatch(m: EncodeRequest): Promise<void> {
  const reply = (r: EncodeReply, transfer: ArrayBuffer[] = []): void => port!.postMessage(r, transfer);
  try {
    // Payloads whose framing is damaged have no spans here either; the main thread reported them.
    const parts = new PayloadParts(m.payloads, m.kafka, m.receivedMs, () => undefined, false);
    for (const p of m.excluded) parts.exclude(p);
    for (let i = 0; i < parts.parts; i++) {
      if (cancelled.delete(m.id)) return;
      const files = encodePart(parts.part(i), m.rowGroupSize);
      // Each file's bytes are its own buffer: handed over, not copied.
      reply({ id: m.id, files }, files.map((f) => f.bytes.buffer as ArrayBuffer).filter((b, j) => b.byteLength === files[j]!.bytes.byteLength));
      // A turn for a cancel between parts.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    reply({ id: m.id, done: true });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    reply({ id: m.id, error: { name: err.name, message: err.message, stack: err.stack, payload: e instanceof CorruptPayloadError ? e.payload : undefined } });
  } finally {
    cancelled.delete(m.id);
  }
}

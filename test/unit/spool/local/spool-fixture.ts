import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { SpoolConfig } from '../../../../src/config/schema.ts';
import { LocalSpool, type LocalSpoolDeps } from '../../../../src/spool/local/local-spool.ts';
import type { Logger } from '../../../../src/telemetry/logger.ts';
import { Metrics } from '../../../../src/telemetry/metrics.ts';

export const KIB_IN_MIB = 1 / 1024;

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tailsampler-spool-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function spoolConfig(dir: string, over: Partial<SpoolConfig['local']> = {}): SpoolConfig['local'] {
  return { dir, segment_size_mib: 64, fsync_interval_ms: 1, max_pending_mib: 2048, ...over };
}

/** A logger whose lines are kept (parsed) for assertions. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export function makeSpool(
  config: SpoolConfig['local'],
  extra: Partial<LocalSpoolDeps> = {},
): { spool: LocalSpool; metrics: Metrics; lines: Record<string, unknown>[] } {
  const metrics = new Metrics();
  const { logger, lines } = captureLogger();
  return { spool: new LocalSpool(config, { metrics, logger, ...extra }), metrics, lines };
}

export function rec(i: number, size = 16): Uint8Array {
  const b = Buffer.alloc(size, i % 251);
  b.writeUInt32LE(i, 0);
  return b;
}

export function recNo(p: Uint8Array): number {
  return Buffer.from(p.buffer, p.byteOffset, p.length).readUInt32LE(0);
}

export async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
}

/** Reads everything from `from` on in pages of `pageBytes`, checking `next` strictly increases. */
export async function readAll(spool: LocalSpool, from: string | null = null, pageBytes = 1 << 20) {
  const out: { next: string; payload: Uint8Array }[] = [];
  let pos = from;
  for (;;) {
    const page = await spool.read(pos, pageBytes);
    if (page.length === 0) return out;
    for (const r of page) {
      if (pos !== null && !(r.next > pos)) throw new Error(`position went backwards: ${r.next} after ${pos}`);
      out.push(r);
      pos = r.next;
    }
  }
}

/** A promise with its resolve exposed, for holding a sync open. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

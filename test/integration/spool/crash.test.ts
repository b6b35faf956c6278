import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalSpool } from '../../../src/spool/local/local-spool.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const SEGMENT_MIB = 1 / 64; // 16 KiB: the child rolls segments many times per run

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'tailsampler-crash-'))));
after(async () => rm(dir, { recursive: true, force: true }));

/** Runs the child until it has acknowledged `killAfter` records, then SIGKILLs it. Returns the acks. */
function runAndKill(first: number, killAfter: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(first), String(SEGMENT_MIB)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acked: number[] = [];
    let buffered = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const l of lines) if (l !== 'started') acked.push(Number(l));
      if (!killed && acked.length >= killAfter) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      // A final line cut by the kill is not a complete acknowledgement.
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own: code ${code}, signal ${signal}`));
      else resolve(acked);
    });
  });
}

async function readBack(): Promise<number[]> {
  const spool = new LocalSpool(
    { dir, segment_size_mib: SEGMENT_MIB, fsync_interval_ms: 1, max_pending_mib: 1024 },
    { metrics: new Metrics(), logger: silentLogger() },
  );
  await spool.start();
  const out: number[] = [];
  let pos: string | null = null;
  for (;;) {
    const page = await spool.read(pos, 256 * 1024);
    if (page.length === 0) break;
    for (const r of page) {
      assert.equal(r.payload.length, 64 + (Buffer.from(r.payload).readUInt32LE(0) % 200), 'payload intact');
      out.push(Buffer.from(r.payload).readUInt32LE(0));
      pos = r.next;
    }
  }
  await spool.shutdown();
  return out;
}

it('every acknowledged record survives kill -9, exactly once and in order, across repeated crashes', async () => {
  let first = 0;
  for (const killAfter of [50, 1500, 4000]) {
    const acked = await runAndKill(first, killAfter);
    assert.ok(acked.length >= killAfter);
    const stored = await readBack();
    // Appends are written in call order, so what survives is a gap-free prefix of the numbers issued.
    assert.deepEqual(stored, Array.from({ length: stored.length }, (_, i) => i), 'contiguous, no duplicates');
    const storedSet = new Set(stored);
    for (const n of acked) assert.ok(storedSet.has(n), `acknowledged record ${n} lost`);
    first = stored.length; // the next run continues the sequence after what is durable
  }
  assert.ok((await readdir(dir)).filter((f) => f.endsWith('.seg')).length > 3, 'segments rolled during the runs');
});

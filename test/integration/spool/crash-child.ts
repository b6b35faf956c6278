// Appends numbered records forever with several concurrent appenders, printing each number once its
// append has resolved (stdout to a pipe is synchronous on Linux, so a printed number was acknowledged).
// Usage: crash-child.ts <dir> <first number> <segment_size_mib>
import { LocalSpool } from '../../../src/spool/local/local-spool.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

const [dir, firstArg, segArg] = process.argv.slice(2);
const spool = new LocalSpool(
  { dir: dir!, segment_size_mib: Number(segArg), fsync_interval_ms: 1, max_pending_mib: 1024 },
  { metrics: new Metrics(), logger: silentLogger() },
);
await spool.start();
process.stdout.write('started\n');

let next = Number(firstArg);
function payload(n: number): Buffer {
  const b = Buffer.alloc(64 + (n % 200), n % 256);
  b.writeUInt32LE(n, 0);
  return b;
}

async function appender(): Promise<never> {
  for (;;) {
    const n = next++;
    await spool.append([payload(n)]);
    process.stdout.write(`${n}\n`);
  }
}

await Promise.all([appender(), appender(), appender(), appender(), appender(), appender()]);

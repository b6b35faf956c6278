/** Settings shared by the parts of the peer bench, and its command-line options (`npm run bench -- --peer otelcol`). */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const REPLAY = fileURLToPath(new URL('../replay.ts', import.meta.url));
export const MANIFEST = fileURLToPath(new URL('../otelcol-peer/builder.yaml', import.meta.url));
export const SPANS_PER_TRACE = 10;
export const ERROR_SHARE = 0.05;
export const SLOW_SHARE = 0.05;
/** telemetrygen's per-worker limiter falls short above ~1.5K spans/s (NOTES.md): stay well below. */
export const SPANS_PER_WORKER = 1000;
export const MAX_INGEST_STEPS = 12;
export const IDLE_SECS = 5;
/**
 * The steady-state CPU figure counts from this far into the load to its end: past tailsampler's
 * compiler warm-up (V8 optimizes the hot functions within the first ~20 s), which a long-running
 * process pays once; the Collector (Go, compiled ahead of time) has none.
 */
export const STEADY_FROM_SECS = 30;
/** Requests in flight in the ingest steps: as many clients, so a sampler's pause (GC, a commit) is absorbed as latency. */
export const INGEST_CONCURRENCY = 32;
export const run = promisify(execFile);

/** Options of `npm run bench -- --peer otelcol`, merged into bench/run.ts's. */
export const PEER_OPTIONS = {
  peer: { type: 'string' },
  /** Pending-span counts for the memory figure. */
  'peer-spans': { type: 'string', default: '1000000,5000000' },
  'peer-load-spans': { type: 'string', default: '1000000' },
  /** Offered spans/s of the telemetrygen load (cpu). */
  'peer-rate': { type: 'string', default: '10000' },
  /** decision_wait = inactivity_threshold_secs. */
  'peer-wait': { type: 'string', default: '5' },
  'peer-latency-ms': { type: 'string', default: '1000' },
  'peer-commit-secs': { type: 'string', default: '2' },
  'peer-scan-secs': { type: 'string', default: '1' },
  'peer-lag-traces': { type: 'string', default: '5000' },
  'peer-lag-rate': { type: 'string', default: '5000' },
  'peer-ingest-start': { type: 'string', default: '10000' },
  'peer-step-secs': { type: 'string', default: '20' },
  'peer-ingest-budget-secs': { type: 'string', default: '600' },
} as const;

const MEASUREMENTS = ['cpu', 'ingest', 'memory', 'lag'] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

export interface PeerOptions {
  path: string;
  only: Measurement | undefined;
  pendingSpans: number[];
  loadSpans: number;
  rate: number;
  wait: number;
  latencyMs: number;
  commitSecs: number;
  scanSecs: number;
  lagTraces: number;
  lagRate: number;
  ingestStart: number;
  stepSecs: number;
  ingestBudgetSecs: number;
}

function num(values: Record<string, unknown>, name: string, min = 0): number {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min} (got ${String(values[name])})`);
  return n;
}

export function peerOptions(values: Record<string, unknown>): PeerOptions {
  if (values.peer !== 'otelcol') throw new Error(`--peer must be otelcol (got ${String(values.peer)})`);
  const only = values.only as string | undefined;
  if (only !== undefined && !(MEASUREMENTS as readonly string[]).includes(only)) throw new Error(`with --peer, --only must be one of ${MEASUREMENTS.join(', ')}`);
  const pendingSpans = String(values['peer-spans']).split(',').map(Number);
  if (pendingSpans.some((n) => !Number.isInteger(n) || n < 1000)) throw new Error('--peer-spans must be a comma-separated list of whole numbers ≥ 1000');
  return {
    path: String(values.path),
    only: only as Measurement | undefined,
    pendingSpans: pendingSpans.sort((a, b) => a - b),
    loadSpans: num(values, 'peer-load-spans', 1000),
    rate: num(values, 'peer-rate', 100),
    wait: num(values, 'peer-wait', 1),
    latencyMs: num(values, 'peer-latency-ms', 1),
    commitSecs: num(values, 'peer-commit-secs', 0.1),
    scanSecs: num(values, 'peer-scan-secs', 0.1),
    lagTraces: num(values, 'peer-lag-traces', 50),
    lagRate: num(values, 'peer-lag-rate', 100),
    ingestStart: num(values, 'peer-ingest-start', 100),
    stepSecs: num(values, 'peer-step-secs', 2),
    ingestBudgetSecs: num(values, 'peer-ingest-budget-secs', 10),
  };
}

/**
 * `npm run bench -- --peer otelcol`: tailsampler side by side with the OpenTelemetry Collector's own
 * tail sampler (contrib `tail_sampling`), same load, same policies, same wait, both exporting the
 * traces they keep over OTLP/HTTP to one sink in this process. Every process listens on 127.0.0.1.
 *
 * Measurements (`--only cpu|ingest|memory|lag` picks one), each on a freshly started sampler:
 *  - cpu: telemetrygen (the Collector project's load generator, 10-span traces: a root and 9
 *    children; 5% with status ERROR, 5% lasting twice the latency threshold, in their own processes)
 *    at `--peer-rate` spans/s until `--peer-load-spans`; the sampling process's utime+stime
 *    (/proc/<pid>/stat) from just before the load until every trace is decided and every kept trace is
 *    at the sink, per million spans its receiver accepted.
 *  - ingest: bench/replay.ts (pre-encoded requests, near-zero CPU per span) offering a rate for
 *    `--peer-step-secs` after an uncounted warm-up: ×1.5 per step from `--peer-ingest-start` until a
 *    step fails (÷2 while none has passed), then halfway between the best pass and the lowest failure
 *    until they are within 10%. A step passes when the generator kept the rate (≥ 97%, 32 requests in
 *    flight), nothing was refused, failed, rejected or dropped (the sampler's own counters too), and
 *    the sampler kept up: as the load stops its table (the Collector: its processor) is behind by at
 *    most what arrived in the last commit interval + 2 s, and it has caught up within max(10 s,
 *    3 commit intervals + 2 scans) (tailsampler: every accepted span committed and read by the
 *    evaluator; the Collector: every trace in its processor). At most 12 steps and
 *    `--peer-ingest-budget-secs` per sampler.
 *  - memory: the sampler's RSS with each of `--peer-spans` (e.g. 1M, 5M) spans pending (a one-hour wait,
 *    nothing decided), loaded by the replay generator as fast as the sampler takes them; and the peak.
 *  - lag: the replay generator at `--peer-lag-rate` for `--peer-lag-traces` traces, each trace whole in
 *    one request; per kept trace, from its request being sent to its last span reaching the sink:
 *    p50/p99. The same clock and the same sink for both, so the figures are comparable; the floor is the
 *    wait (`decision_wait` = `inactivity_threshold_secs`).
 * Processes started here are killed when this process exits, however it exits.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { freePort, startService, type ServiceProcess } from '../test/support/service.ts';
import { missingKafkaGarage, startKafkaGarage, type KafkaGarage } from './infra.ts';
import type { ReplayResult } from './replay.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const REPLAY = fileURLToPath(new URL('./replay.ts', import.meta.url));
const MANIFEST = fileURLToPath(new URL('./otelcol-peer/builder.yaml', import.meta.url));
const SPANS_PER_TRACE = 10;
const ERROR_SHARE = 0.05;
const SLOW_SHARE = 0.05;
/** telemetrygen's per-worker limiter falls short above ~1.5K spans/s (NOTES.md): stay well below. */
const SPANS_PER_WORKER = 1000;
const MAX_INGEST_STEPS = 12;
const IDLE_SECS = 5;
/** Requests in flight in the ingest steps: as many clients, so a sampler's pause (GC, a commit) is absorbed as latency. */
const INGEST_CONCURRENCY = 32;
const run = promisify(execFile);

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
type Measurement = (typeof MEASUREMENTS)[number];

interface PeerOptions {
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

// ---- processes started here: killed on exit, however it happens ----

const children = new Set<ChildProcess>();
const services = new Set<ServiceProcess>();
/** Temporary directories to remove if the bench exits before it removes them itself. */
const scratchDirs = new Set<string>();
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.add(dir);
  return dir;
}
function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  scratchDirs.delete(dir);
}
function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const s of services) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.once('exit', () => {
  killAll();
  for (const dir of [...scratchDirs, ...[...services].map((s) => s.dir)]) rmSync(dir, { recursive: true, force: true });
});

function track(child: ChildProcess): { exited: Promise<number | null>; tail: () => string } {
  children.add(child);
  let tail = '';
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { exited, tail: () => tail };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it is true (→ true) or `timeoutMs` passed (→ false). */
async function until(probe: () => Promise<boolean>, timeoutMs: number, everyMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return true;
    } catch {
      // not answering yet: try again
    }
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

// ---- /proc ----

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/**
 * Sums of every sample of each metric in a Prometheus text exposition, by metric name without a
 * `_total` suffix (the Collector's exporter leaves it off counters depending on content negotiation).
 */
async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(url, { headers: { accept: 'text/plain;version=0.0.4' }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*?)(?:_total)?(?:\{.*\})? (\S+)/.exec(line);
    if (m) sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return sums;
}

// ---- the sink both samplers export to ----

/**
 * OTLP/HTTP receiver on 127.0.0.1 that records when each kept trace arrived. Traces of the replay
 * generator are known by their id prefix and counter (arrival time per counter); others (telemetrygen)
 * are counted as distinct ids. It walks the protobuf only as far as the trace ids.
 */
class Sink {
  url = '';
  spans = 0;
  private server = createServer((req, res) => this.onRequest(req, res));
  private prefix: Buffer | undefined;
  private arrival = new Float64Array(0);
  private known = 0;
  private other: Set<string> | undefined;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Forget what arrived; `prefix`: time each of `traces` replay traces, else count distinct ids. */
  reset(prefix?: string, traces = 0, distinct = true): void {
    this.spans = 0;
    this.known = 0;
    this.prefix = prefix ? Buffer.from(prefix, 'hex') : undefined;
    this.arrival = new Float64Array(traces);
    this.other = distinct ? new Set() : undefined;
  }

  /** Distinct traces that arrived. */
  get traces(): number {
    return this.known + (this.other?.size ?? 0);
  }

  /** Epoch ms the last span of replay trace `counter` arrived, 0 if none did. */
  arrivedAt(counter: number): number {
    return this.arrival[counter] ?? 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = performance.timeOrigin + performance.now();
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        this.walk(body, 0, body.length, 0, now);
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  }

  /** ExportTraceServiceRequest(1: resource_spans) → ResourceSpans(2: scope_spans) → ScopeSpans(2: spans) → Span(1: trace_id). */
  private walk(b: Buffer, at: number, end: number, depth: number, now: number): void {
    while (at < end) {
      let key = 0;
      for (let shift = 0; ; shift += 7) {
        const x = b[at++]!;
        key += (x & 0x7f) * 2 ** shift;
        if (x < 0x80) break;
      }
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire === 0) {
        while (b[at++]! >= 0x80);
        continue;
      }
      if (wire === 1) {
        at += 8;
        continue;
      }
      if (wire === 5) {
        at += 4;
        continue;
      }
      if (wire !== 2) throw new Error(`unexpected wire type ${wire}`);
      let len = 0;
      for (let shift = 0; ; shift += 7) {
        const x = b[at++]!;
        len += (x & 0x7f) * 2 ** shift;
        if (x < 0x80) break;
      }
      const next = at + len;
      if (depth === 0 && field === 1) this.walk(b, at, next, 1, now);
      else if ((depth === 1 || depth === 2) && field === 2) this.walk(b, at, next, depth + 1, now);
      else if (depth === 3 && field === 1 && len === 16) this.traceId(b, at, now);
      at = next;
    }
    if (depth === 3) this.spans++;
  }

  private traceId(b: Buffer, at: number, now: number): void {
    if (this.prefix && b.compare(this.prefix, 0, 8, at, at + 8) === 0) {
      const counter = b.readUInt32BE(at + 8) * 2 ** 32 + b.readUInt32BE(at + 12);
      if (counter < this.arrival.length) {
        if (this.arrival[counter] === 0) this.known++;
        this.arrival[counter] = now;
        return;
      }
    }
    this.other?.add(b.toString('hex', at, at + 16));
  }
}

// ---- the samplers ----

interface Tuning {
  /** decision_wait = inactivity_threshold_secs. */
  wait: number;
  /** otelcol num_traces (traces held at once); tailsampler has no such bound. */
  numTraces: number;
}

/** A sampling process under test, seen through its own metrics. */
interface Sampler {
  pid: number;
  /** http://127.0.0.1:port of its OTLP/HTTP receiver. */
  http: string;
  /** Spans its receiver accepted. */
  accepted(): Promise<number>;
  /** Spans or traces it refused, failed or dropped so far, by its metric's name (all 0: nothing lost). */
  losses(): Promise<Map<string, number>>;
  /** Traces decided so far. */
  decided(): Promise<number>;
  /** Spans accepted but not yet in its store (tailsampler: the table; the Collector: its processor). */
  backlog(): Promise<number>;
  /** Every span accepted is in its store and seen by what decides (tailsampler: also read by the evaluator). */
  caughtUp(): Promise<boolean>;
  stop(): Promise<void>;
}

interface SamplerKind {
  label: string;
  start(t: Tuning): Promise<Sampler>;
}

function policies(latencyMs: number): unknown[] {
  // The same list for both, in the Collector's YAML (tailsampler takes it unchanged).
  return [
    { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
    { name: 'slow', type: 'latency', latency: { threshold_ms: latencyMs } },
  ];
}

function otelcolKind(bin: string, sink: Sink, o: PeerOptions): SamplerKind {
  return {
    label: 'otelcol tail_sampling',
    async start(t) {
      const dir = tempDir('tailsampler-peer-otelcol-');
      let lastError: unknown;
      // A free port can be taken between finding and binding it: a start that fails is tried on fresh ones.
      for (let attempt = 0; attempt < 3; attempt++) {
        const [http, metrics] = [await freePort(), await freePort()];
        const config = {
          receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${http}` } } } },
          processors: {
            tail_sampling: {
              decision_wait: `${t.wait}s`,
              num_traces: t.numTraces,
              drop_pending_traces_on_shutdown: true,
              policies: policies(o.latencyMs),
            },
          },
          exporters: { otlp_http: { traces_endpoint: `${sink.url}/v1/traces`, compression: 'none' } },
          service: {
            telemetry: {
              logs: { level: 'warn' },
              metrics: { level: 'normal', readers: [{ pull: { exporter: { prometheus: { host: '127.0.0.1', port: metrics } } } }] },
            },
            pipelines: { traces: { receivers: ['otlp'], processors: ['tail_sampling'], exporters: ['otlp_http'] } },
          },
        };
        const file = join(dir, 'config.yaml');
        writeFileSync(file, JSON.stringify(config));
        const child = spawn(bin, [`--config=file:${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
        const { exited, tail } = track(child);
        let dead = false;
        void exited.then(() => (dead = true));
        const url = `http://127.0.0.1:${metrics}/metrics`;
        const m = async (...names: string[]): Promise<number> => {
          const all = await scrape(url);
          return names.reduce((sum, n) => sum + (all.get(n) ?? 0), 0);
        };
        const pick = async (...names: string[]): Promise<Map<string, number>> => {
          const all = await scrape(url);
          return new Map(names.map((n) => [n, all.get(n) ?? 0]));
        };
        const backlog = async (): Promise<number> => {
          const all = await scrape(url);
          return (all.get('otelcol_receiver_accepted_spans') ?? 0) - (all.get('otelcol_processor_tail_sampling_new_trace_id_received') ?? 0) * SPANS_PER_TRACE;
        };
        if (!(await until(async () => !dead && (await fetch(`http://127.0.0.1:${http}/`).then(() => true)) && (await scrape(url)).size > 0, 30_000, 100)) || dead) {
          child.kill('SIGKILL');
          await exited;
          lastError = new Error(`the Collector did not start:\n${tail()}`);
          continue;
        }
        return {
          pid: child.pid!,
          http: `http://127.0.0.1:${http}`,
          accepted: () => m('otelcol_receiver_accepted_spans'),
          losses: () =>
            pick(
              'otelcol_receiver_refused_spans',
              'otelcol_receiver_failed_spans',
              'otelcol_processor_tail_sampling_sampling_trace_dropped_too_early',
              'otelcol_processor_tail_sampling_traces_dropped_too_large',
              'otelcol_exporter_send_failed_spans',
              'otelcol_exporter_enqueue_failed_spans',
            ),
          decided: () => m('otelcol_processor_tail_sampling_global_count_traces_sampled'),
          // Spans are handed to the processor's loop through a channel: behind by the traces it has not
          // seen yet (each replay trace arrives whole in one request).
          backlog,
          caughtUp: async () => (await backlog()) <= 0,
          async stop() {
            if (!dead) {
              child.kill('SIGTERM');
              if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) child.kill('SIGKILL');
              await exited;
            }
            removeDir(dir);
          },
        };
      }
      removeDir(dir);
      throw lastError;
    },
  };
}

function tailsamplerKind(label: string, sink: Sink, o: PeerOptions, storage: () => { spool?: Record<string, unknown>; storage?: Record<string, unknown> }): SamplerKind {
  return {
    label,
    async start(t) {
      const { spool, storage: store } = storage();
      const svc = await startService({
        config: {
          ...(spool ? { spool } : {}),
          storage: { ...store, commit_interval_secs: o.commitSecs },
          query: { scan_interval_secs: o.scanSecs, inactivity_threshold_secs: t.wait, max_trace_age_secs: Math.max(120, t.wait * 2) },
          sampling: { policies: policies(o.latencyMs) },
          exporters: { otlp: { endpoint: sink.url, compression: 'none', timeout_ms: 30_000 } },
          telemetry: { log_level: 'warn' },
        },
      });
      services.add(svc);
      const url = `${svc.telemetry}/metrics`;
      const m = async (...names: string[]): Promise<number> => {
        const all = await scrape(url);
        return names.reduce((sum, n) => sum + (all.get(n) ?? 0), 0);
      };
      const pick = async (...names: string[]): Promise<Map<string, number>> => {
        const all = await scrape(url);
        return new Map(names.map((n) => [n, all.get(n) ?? 0]));
      };
      return {
        pid: svc.pid,
        http: svc.http,
        accepted: () => m('tailsampler_receiver_accepted_spans'),
        losses: () => pick('tailsampler_receiver_refused_spans', 'tailsampler_exporter_failed_spans', 'tailsampler_exporter_dead_lettered_traces'),
        decided: () => m('tailsampler_traces_decided'),
        backlog: async () => {
          const all = await scrape(url);
          return (all.get('tailsampler_receiver_accepted_spans') ?? 0) - (all.get('tailsampler_materializer_committed_spans') ?? 0);
        },
        // Committed to the table and read by the evaluator (live or decided).
        caughtUp: async () => {
          const all = await scrape(url);
          const accepted = all.get('tailsampler_receiver_accepted_spans') ?? 0;
          const seen = (all.get('tailsampler_evaluator_live_traces') ?? 0) + (all.get('tailsampler_traces_decided') ?? 0);
          return (all.get('tailsampler_materializer_committed_spans') ?? 0) >= accepted && seen * SPANS_PER_TRACE >= accepted;
        },
        async stop() {
          if (!(await Promise.race([svc.stop().then(() => true), sleep(30_000).then(() => false)]))) await svc.kill();
          services.delete(svc);
          rmSync(svc.dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/** "metric +n, …" for the counters that grew since `before` (all of them without it); '' when none did. */
function describe(now: Map<string, number>, before = new Map<string, number>()): string {
  return [...now]
    .map(([name, n]) => [name, n - (before.get(name) ?? 0)] as const)
    .filter(([, d]) => d > 0)
    .map(([name, d]) => `${name} +${d}`)
    .join(', ');
}

// ---- load generators ----

/** Written by the run's first replay and read by the others: every sampler gets the same requests. */
let templatesFile: string | undefined;

async function replay(endpoint: string, args: Record<string, string | number | boolean>, timeoutMs: number): Promise<ReplayResult> {
  if (templatesFile) args = { ...args, templates: templatesFile };
  const argv = Object.entries(args).flatMap(([k, v]) => (v === true ? [`--${k}`] : v === false ? [] : [`--${k}`, String(v)]));
  const child = spawn(process.execPath, [REPLAY, '--endpoint', endpoint, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const { exited, tail } = track(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`replay exited ${code}:\n${tail()}`);
  return JSON.parse(out) as ReplayResult;
}

interface GenPlan {
  runs: { args: string[]; traces: number; kept: boolean }[];
  traces: number;
  spans: number;
  kept: number;
}

/**
 * telemetrygen processes for `spans` at `rate` spans/s: plain traces, ERROR traces (status on every
 * span) and slow ones (9 sequential children of 2/9 of twice the threshold each: the trace lasts twice
 * the latency threshold), each with enough workers to stay under the per-worker limit.
 */
function telemetrygenPlan(endpoint: string, rate: number, spans: number, latencyMs: number): GenPlan {
  const classes: { share: number; extra: string[]; kept: boolean; service: string }[] = [
    { share: 1 - ERROR_SHARE - SLOW_SHARE, extra: [], kept: false, service: 'bench-plain' },
    { share: ERROR_SHARE, extra: ['--status-code', 'Error'], kept: true, service: 'bench-error' },
    { share: SLOW_SHARE, extra: ['--span-duration', `${Math.ceil((latencyMs * 2) / 9)}ms`], kept: true, service: 'bench-slow' },
  ];
  const runs = classes.map((c) => {
    const workers = Math.max(1, Math.ceil((rate * c.share) / SPANS_PER_WORKER));
    const perWorker = Math.max(1, Math.round((spans * c.share) / SPANS_PER_TRACE / workers));
    const args = [
      'traces',
      '--otlp-http',
      '--otlp-insecure',
      '--otlp-endpoint',
      endpoint.replace(/^http:\/\//, ''),
      '--child-spans',
      String(SPANS_PER_TRACE - 1),
      '--workers',
      String(workers),
      '--traces',
      String(perWorker),
      '--rate',
      ((rate * c.share) / workers).toFixed(2),
      '--batch-size',
      '512',
      '--service',
      c.service,
      ...c.extra,
    ];
    return { args, traces: workers * perWorker, kept: c.kept };
  });
  const traces = runs.reduce((n, r) => n + r.traces, 0);
  return { runs, traces, spans: traces * SPANS_PER_TRACE, kept: runs.reduce((n, r) => n + (r.kept ? r.traces : 0), 0) };
}

async function telemetrygen(bin: string, plan: GenPlan, timeoutMs: number): Promise<void> {
  const procs = plan.runs.map((r) => {
    // A queue big enough that the SDK's batch processor never drops spans under the load.
    const child = spawn(bin, r.args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OTEL_BSP_MAX_QUEUE_SIZE: '200000' } });
    return { child, ...track(child) };
  });
  const timer = setTimeout(() => procs.forEach((p) => p.child.kill('SIGKILL')), timeoutMs);
  try {
    const codes = await Promise.all(procs.map((p) => p.exited));
    const bad = codes.findIndex((c) => c !== 0);
    if (bad >= 0) throw new Error(`telemetrygen exited ${codes[bad]}:\n${procs[bad]!.tail()}`);
  } finally {
    clearTimeout(timer);
  }
}

// ---- measurements ----

type Row = Map<string, string>;
interface Figures {
  cpu: Row;
  idle: Row;
  ingest: Row;
  pending: Map<number, Row>;
  peak: Row;
  lag50: Row;
  lag99: Row;
  notes: string[];
}

function log(line: string): void {
  console.log(`  ${line}`);
}

async function withSampler<T>(kind: SamplerKind, t: Tuning, body: (s: Sampler) => Promise<T>): Promise<T> {
  const s = await kind.start(t);
  try {
    return await body(s);
  } finally {
    await s.stop();
  }
}

async function measureCpu(kind: SamplerKind, genBin: string, sink: Sink, o: PeerOptions, f: Figures): Promise<void> {
  sink.reset();
  await withSampler(kind, { wait: o.wait, numTraces: 1_000_000 }, async (s) => {
    const plan = telemetrygenPlan(s.http, o.rate, o.loadSpans, o.latencyMs);
    // What it burns doing nothing (timers, scans of an empty table), for reading the figure below.
    await sleep(1000);
    const idle0 = cpuSeconds(s.pid);
    await sleep(IDLE_SECS * 1000);
    const idle = (cpuSeconds(s.pid) - idle0) / IDLE_SECS;
    f.idle.set(kind.label, `${(idle * 100).toFixed(1)}%`);
    const cpu0 = cpuSeconds(s.pid);
    const t0 = performance.now();
    await telemetrygen(genBin, plan, ((plan.spans / o.rate) * 3 + 120) * 1000);
    const loadSecs = (performance.now() - t0) / 1000;
    const decided = await until(async () => (await s.decided()) >= plan.traces, (o.wait + 120) * 1000);
    // Then until every kept trace is at the sink, or nothing more arrived for 5 s.
    let last = -1;
    let still = 0;
    await until(async () => {
      if (sink.traces >= plan.kept) return true;
      still = sink.spans === last ? still + 1 : 0;
      last = sink.spans;
      return still >= 20 && sink.traces > 0;
    }, 120_000);
    const cpu = cpuSeconds(s.pid) - cpu0;
    const secs = (performance.now() - t0) / 1000;
    const accepted = await s.accepted();
    const losses = describe(await s.losses());
    const perM = (cpu * 1e6) / accepted;
    f.cpu.set(kind.label, `${perM.toFixed(1)} s`);
    log(
      `[${kind.label}] cpu: ${accepted} spans accepted of ${plan.spans} sent by telemetrygen in ${loadSecs.toFixed(1)} s (${Math.round(plan.spans / loadSecs)} spans/s); ` +
        `${cpu.toFixed(1)} CPU s over ${secs.toFixed(1)} s until all decided${decided ? '' : ' (NOT all decided)'} and kept at the sink (${sink.traces} of ${plan.kept} kept traces); ` +
        `${perM.toFixed(1)} CPU s per million spans (idle: ${(idle * 100).toFixed(1)}% of a core)${losses ? `; LOST ${losses}` : ''}`,
    );
    if (accepted < plan.spans || sink.traces !== plan.kept || losses) f.notes.push(`${kind.label}, cpu run: ${accepted}/${plan.spans} spans accepted, ${sink.traces}/${plan.kept} kept traces at the sink${losses ? `, lost: ${losses}` : ''}`);
  });
}

async function measureIngest(kind: SamplerKind, sink: Sink, o: PeerOptions, f: Figures): Promise<void> {
  sink.reset(undefined, 0, false);
  await withSampler(kind, { wait: o.wait, numTraces: 1_000_000 }, async (s) => {
    const deadline = Date.now() + o.ingestBudgetSecs * 1000;
    const catchUpMs = Math.max(10, 3 * o.commitSecs + 2 * o.scanSecs) * 1000;
    const step = (rate: number, seconds: number): Promise<ReplayResult> =>
      replay(s.http, { rate: Math.round(rate), concurrency: INGEST_CONCURRENCY, seconds, spans: Math.ceil(rate * seconds * 1.05) + 1000, prefix: randomBytes(8).toString('hex') }, (seconds + 120) * 1000);
    // Warm-up, not counted: JIT-compiled hot paths, first files and connections.
    await step(o.ingestStart / 2, Math.min(10, o.stepSecs));
    if (!(await until(() => s.caughtUp(), 120_000))) {
      f.ingest.set(kind.label, `< ${o.ingestStart / 2} spans/s`);
      log(`[${kind.label}] ingest: not caught up 120 s after the warm-up at ${o.ingestStart / 2} spans/s`);
      return;
    }
    // Up ×1.5 from the start until a step fails (down ÷2 if the first one does), then halfway between
    // the best pass and the lowest failure until they are within 10%.
    let best = 0;
    let failedAt = Infinity;
    let rate = o.ingestStart;
    for (let n = 0; n < MAX_INGEST_STEPS && rate >= 500 && Date.now() + o.stepSecs * 1000 < deadline; n++) {
      const lossesBefore = await s.losses();
      const r = await step(rate, o.stepSecs);
      // Behind by no more than what arrived during one commit interval and 2 s more when the load stops
      // (a buffer may hide a deficit for a while, not for a whole step), and then caught up soon after.
      const backlog = await s.backlog();
      const allowed = rate * (o.commitSecs + 2);
      const caughtUp = backlog <= allowed && (await until(() => s.caughtUp(), catchUpMs));
      const lost = describe(await s.losses(), lossesBefore);
      const kept = r.spansPerSecond >= 0.97 * rate;
      const ok = kept && caughtUp && r.refusedSpans + r.failedSpans + r.rejectedSpans === 0 && !lost;
      const why = [
        kept ? '' : `generator reached ${r.spansPerSecond}/s only (${r.maxInFlight} requests in flight)`,
        backlog > allowed ? `${backlog} spans behind as the load stopped (> ${Math.round(allowed)})` : caughtUp ? '' : `not caught up ${catchUpMs / 1000} s after`,
        r.refusedSpans ? `${r.refusedSpans} refused` : '',
        r.failedSpans ? `${r.failedSpans} failed (${JSON.stringify(r.failures)})` : '',
        r.rejectedSpans ? `${r.rejectedSpans} rejected` : '',
        lost ? `lost: ${lost}` : '',
      ].filter(Boolean);
      log(`[${kind.label}] ingest step ${Math.round(rate)} spans/s × ${o.stepSecs} s: ${ok ? 'ok' : `FAIL (${why.join(', ')})`} (generator CPU ${((r.cpuSeconds * 1e6) / r.spans).toFixed(2)} s per million spans)`);
      if (ok) best = rate;
      else {
        failedAt = rate;
        // Let the backlog drain before the next step; give up if it does not.
        if (!(await until(() => s.caughtUp(), 120_000))) break;
      }
      if (failedAt === Infinity) rate *= 1.5;
      else if (best === 0) rate /= 2;
      else if (failedAt - best < best * 0.1) break;
      else rate = (best + failedAt) / 2;
    }
    const fmt = (n: number): string => `${Math.round(n).toLocaleString('en-US')} spans/s`;
    f.ingest.set(kind.label, best ? `${fmt(best)}${failedAt === Infinity ? ' (no step failed)' : ''}` : failedAt === Infinity ? 'no step ran' : `< ${fmt(failedAt)}`);
  });
}

async function measureMemory(kind: SamplerKind, sink: Sink, o: PeerOptions, f: Figures): Promise<void> {
  sink.reset(undefined, 0, false);
  const maxPending = o.pendingSpans.at(-1)!;
  const hour = 3600;
  await withSampler(kind, { wait: hour, numTraces: Math.ceil((maxPending / SPANS_PER_TRACE) * 1.2) + 1000 }, async (s) => {
    let peak = rssMiB(s.pid);
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssMiB(s.pid));
      } catch {
        // exited
      }
    }, 250);
    try {
      let sent = 0;
      for (const target of o.pendingSpans) {
        const r = await replay(s.http, { rate: 0, spans: target - sent, concurrency: 4, retry: true, prefix: randomBytes(8).toString('hex') }, 1_800_000);
        sent += r.spans;
        const caughtUp = await until(() => s.caughtUp(), 900_000, 500);
        const decided = await s.decided();
        const rss = rssMiB(s.pid);
        peak = Math.max(peak, rss);
        let row = f.pending.get(target);
        if (!row) f.pending.set(target, (row = new Map<string, string>()));
        row.set(kind.label, `${rss.toFixed(0)} MiB`);
        log(
          `[${kind.label}] memory: ${sent} spans pending (loaded at ${r.spansPerSecond} spans/s${r.refusedSpans ? `, ${r.refusedSpans} refused` : ''}), RSS ${rss.toFixed(0)} MiB, ` +
            `peak so far ${peak.toFixed(0)} MiB${caughtUp ? '' : ' (NOT caught up)'}${decided ? `, ${decided} traces decided (expected none)` : ''}`,
        );
      }
      f.peak.set(kind.label, `${peak.toFixed(0)} MiB`);
    } finally {
      clearInterval(sampler);
    }
  });
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function measureLag(kind: SamplerKind, sink: Sink, o: PeerOptions, f: Figures): Promise<void> {
  const prefix = randomBytes(8).toString('hex');
  const dir = tempDir('tailsampler-peer-lag-');
  try {
    sink.reset(prefix, o.lagTraces);
    await withSampler(kind, { wait: o.wait, numTraces: 1_000_000 }, async (s) => {
      const file = join(dir, 'send-times.bin');
      const r = await replay(s.http, { rate: o.lagRate, spans: o.lagTraces * SPANS_PER_TRACE, prefix, 'send-times': file }, ((o.lagTraces * SPANS_PER_TRACE) / o.lagRate + 120) * 1000);
      let last = -1;
      let still = 0;
      await until(async () => {
        if (sink.traces >= r.interestingTraces) return true;
        still = sink.spans === last ? still + 1 : 0;
        last = sink.spans;
        return still >= 40 && sink.traces > 0;
      }, (o.wait + 3 * o.commitSecs + 120) * 1000);
      const sent = new Float64Array(new Uint8Array(readFileSync(file)).buffer);
      const lags: number[] = [];
      for (let c = 0; c < sent.length; c++) {
        const at = sink.arrivedAt(c);
        if (at > 0) lags.push((at - sent[c]!) / 1000);
      }
      const sorted = Float64Array.from(lags).sort();
      if (sorted.length === 0) {
        f.notes.push(`${kind.label}, lag run: no kept trace reached the sink`);
        return;
      }
      f.lag50.set(kind.label, `${percentile(sorted, 50).toFixed(2)} s`);
      f.lag99.set(kind.label, `${percentile(sorted, 99).toFixed(2)} s`);
      log(
        `[${kind.label}] lag: ${r.traces} traces at ${r.spansPerSecond} spans/s, ${sorted.length} of ${r.interestingTraces} kept traces at the sink; ` +
          `sent → at sink p50 ${percentile(sorted, 50).toFixed(2)} s, p99 ${percentile(sorted, 99).toFixed(2)} s, max ${sorted.at(-1)!.toFixed(2)} s`,
      );
      if (sorted.length !== r.interestingTraces) f.notes.push(`${kind.label}, lag run: ${sorted.length} of ${r.interestingTraces} kept traces reached the sink`);
    });
  } finally {
    removeDir(dir);
  }
}

// ---- the table ----

function ratio(a: string | undefined, b: string | undefined): string {
  const x = Number.parseFloat((a ?? '').replaceAll(',', ''));
  const y = Number.parseFloat((b ?? '').replaceAll(',', ''));
  if (!Number.isFinite(x) || !Number.isFinite(y) || y === 0 || (a ?? '').startsWith('<') || (b ?? '').startsWith('<')) return '—';
  return `${(x / y).toFixed(2)}×`;
}

function table(f: Figures, peer: string, ours: string[], o: PeerOptions): string {
  const m = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}K`);
  const rows: [string, Row][] = [];
  if (f.cpu.size) rows.push([`CPU seconds per million spans (telemetrygen, ${o.rate.toLocaleString('en-US')} spans/s offered; lower is better)`, f.cpu]);
  if (f.idle.size) rows.push(['CPU while idle, before the load (% of one core)', f.idle]);
  if (f.ingest.size) rows.push(['highest sustained ingest, nothing refused or dropped, caught up (replay; higher is better)', f.ingest]);
  for (const [n, row] of f.pending) rows.push([`RSS with ${m(n)} spans pending`, row]);
  if (f.peak.size) rows.push([`peak RSS while loading ${m(o.pendingSpans.at(-1)!)} pending spans`, f.peak]);
  if (f.lag50.size) rows.push([`decision lag p50, last span sent → kept trace at the sink (wait ${o.wait} s)`, f.lag50]);
  if (f.lag99.size) rows.push([`decision lag p99`, f.lag99]);
  const head = ['figure', peer, ...ours.flatMap((l) => [l, `${l.replace('tailsampler ', '')} ÷ otelcol`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [name, row] of rows) lines.push(`| ${[name, row.get(peer) ?? '—', ...ours.flatMap((l) => [row.get(l) ?? '—', ratio(row.get(l), row.get(peer))])].join(' | ')} |`);
  return lines.join('\n');
}

// ---- entry ----

async function buildTools(): Promise<{ otelcol: string; telemetrygen: string; otelcolVersion: string; telemetrygenVersion: string }> {
  const path = async (script: string, args: string[] = []): Promise<string> => {
    const { stdout } = await run('bash', [join(REPO, 'scripts', script), ...args], { maxBuffer: 1 << 20, timeout: 30 * 60_000 });
    const p = stdout.trim().split('\n').at(-1);
    if (!p) throw new Error(`${script} printed no path`);
    return p;
  };
  log('building / finding the peer Collector and telemetrygen (cached after the first run)');
  const otelcol = await path('ensure-otelcol.sh', [MANIFEST]);
  const telemetrygen = await path('ensure-telemetrygen.sh');
  const version = (await run(otelcol, ['--version'])).stdout.trim();
  const go = (await run('go', ['version', otelcol]).then((r) => /go[\d.]+/.exec(r.stdout)?.[0], () => undefined)) ?? 'go ?';
  return { otelcol, telemetrygen, otelcolVersion: `${version} built with ${go}`, telemetrygenVersion: /telemetrygen-(v[\d.]+)/.exec(telemetrygen)?.[1] ?? '?' };
}

export async function runPeerOtelcol(o: PeerOptions): Promise<void> {
  let infra: KafkaGarage | undefined;
  // The REST catalog fixture of the Kafka path runs in its own process group: stop it on ^C too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      void (infra?.close() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const tools = await buildTools();
  const sink = new Sink();
  await sink.start();
  const scratch = tempDir('tailsampler-peer-');
  templatesFile = join(scratch, 'replay-templates.json');
  try {
    const kinds: SamplerKind[] = [otelcolKind(tools.otelcol, sink, o)];
    if (o.path !== 'kafka') kinds.push(tailsamplerKind('tailsampler embedded', sink, o, () => ({})));
    if (o.path !== 'embedded') {
      const missing = await missingKafkaGarage();
      if (missing.length > 0) {
        console.log(`  [peer] Kafka + Garage path skipped: ${missing.join(' and ')} not running (start them with \`bash scripts/infra.sh up kafka garage\`; this benchmark does not start shared components)`);
      } else {
        infra = await startKafkaGarage();
        const i = infra;
        kinds.push(tailsamplerKind('tailsampler kafka', sink, o, () => i.serviceConfig()));
      }
    }
    const c = cpus();
    console.log(
      `machine: ${c.length} × ${c[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}; Node ${process.version}; ` +
        `${tools.otelcolVersion} (contrib tailsamplingprocessor, bench/otelcol-peer/builder.yaml); telemetrygen ${tools.telemetrygenVersion}; ` +
        `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`,
    );
    console.log(
      `setup: policies status_code ERROR + latency > ${o.latencyMs} ms, decision_wait = inactivity_threshold_secs = ${o.wait} s; tailsampler commit ${o.commitSecs} s, scan ${o.scanSecs} s; ` +
        `OTLP/HTTP in and out (no compression), one sink in the bench process; ${SPANS_PER_TRACE}-span traces, ${ERROR_SHARE * 100}% ERROR, ${SLOW_SHARE * 100}% slow`,
    );
    const f: Figures = { cpu: new Map(), idle: new Map(), ingest: new Map(), pending: new Map(), peak: new Map(), lag50: new Map(), lag99: new Map(), notes: [] };
    const want = (m: Measurement): boolean => o.only === undefined || o.only === m;
    // Measurement by measurement, each sampler in turn: noise that changes over time hits both alike.
    for (const kind of kinds) if (want('cpu')) await measureCpu(kind, tools.telemetrygen, sink, o, f);
    for (const kind of kinds) if (want('lag')) await measureLag(kind, sink, o, f);
    for (const kind of kinds) if (want('ingest')) await measureIngest(kind, sink, o, f);
    for (const kind of kinds) if (want('memory')) await measureMemory(kind, sink, o, f);
    console.log('');
    console.log(table(f, kinds[0]!.label, kinds.slice(1).map((k) => k.label), o));
    for (const n of f.notes) console.log(`note: ${n}`);
    console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
  } finally {
    await infra?.close();
    await sink.close();
    removeDir(scratch);
  }
}

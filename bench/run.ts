/**
 * Benchmarks, printed (never asserted), on two paths:
 *  - embedded: local spool, SQLite catalog, table files on the local disk;
 *  - kafka: Kafka spool (a fresh topic and group per run), Iceberg REST catalog, table files on
 *    Garage S3 (the components of scripts/infra.sh, started when not running: see bench/infra.ts).
 * On each path:
 *  1. spans/s from OTLP receive to committed in the Iceberg table;
 *  2. decision lag: from a trace's last span being received to its decision, beyond the inactivity wait;
 *     and the same with an OTLP destination that answers at once next to one that takes 2 s a request,
 *     with how long until every kept trace was delivered (a slow destination must not delay deciding);
 * and for every service run its RSS (peak and at the end) and, on S3, requests and bytes per million
 * spans. On the embedded path also:
 *  3. RSS of the service while N spans are pending (undecided), sampled as they pile up, to show
 *     memory does not grow with pending spans.
 * usage: npm run bench [-- --path embedded|kafka|all --spans 5000000 --throughput-spans 500000 --lag-traces 2000 --only throughput|lag|destination|memory]
 *
 * `--only parquet` prints instead the CPU and bytes per span of writing Parquet data files (bench/parquet.ts).
 *
 * `--peer otelcol` runs instead the side-by-side comparison with the Collector's tail sampler
 * (bench/peer-otelcol.ts, its own `--peer-*` options and `--only cpu|ingest|memory|lag`).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startService, waitFor, type ServiceProcess } from '../test/support/service.ts';
import { startKafkaGarage, type KafkaGarage } from './infra.ts';
import { runParquetBench } from './parquet.ts';
import { runPeerOtelcol } from './peer-otelcol.ts';
import { PEER_OPTIONS, peerOptions } from './peer/options.ts';

const BIN = fileURLToPath(new URL('../bin/tailsampler.js', import.meta.url));
const { values } = parseArgs({
  options: {
    path: { type: 'string', default: 'all' },
    spans: { type: 'string', default: '5000000' },
    'throughput-spans': { type: 'string', default: '500000' },
    'lag-traces': { type: 'string', default: '2000' },
    'parquet-spans': { type: 'string', default: '300000' },
    /** One measurement instead of all of them. */
    only: { type: 'string' },
    ...PEER_OPTIONS,
  },
});
const run = (what: string): boolean => values.only === undefined || values.only === what;
if (!['embedded', 'kafka', 'all'].includes(values.path)) throw new Error(`--path must be embedded, kafka or all (got ${values.path})`);

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function loadgen(endpoint: string, traces: number, spansPerTrace: number, extra: string[] = []): Promise<{ spansPerSecond: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'loadgen', '--endpoint', endpoint, '--traces', String(traces), '--spans-per-trace', String(spansPerTrace), '--traces-per-request', '100', '--concurrency', '4', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { spansPerSecond: number; seconds: number }) : reject(new Error(`loadgen exited ${code}`))));
  });
}

/** Samples of a metric by label set (`svc.metric` sums them, and misses names with digits such as `s3`). */
async function samples(svc: ServiceProcess, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${svc.telemetry}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(\w+)(?:\{[^}]*="([^"]*)"\})? (\S+)$/gm)) if (m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  return out;
}

const committed = (svc: ServiceProcess) => svc.metric('tailsampler_materializer_committed_spans_total');

/** Where a service run keeps its spool and table. */
interface BenchPath {
  name: string;
  /** Config sections for one service run. */
  config(): { spool?: Record<string, unknown>; storage?: Record<string, unknown> };
}

/**
 * Starts the service on `path` with these intervals, runs `body` (which returns the spans it sent),
 * samples RSS all along and prints its peak and final value, and what went to and from S3.
 */
async function withService(
  path: BenchPath,
  tuning: { commit: number; scan: number; inactivity: number; maxAge: number; exporters?: Record<string, unknown> },
  body: (svc: ServiceProcess) => Promise<number>,
): Promise<void> {
  const { spool, storage } = path.config();
  const svc = await startService({
    config: {
      ...(spool ? { spool } : {}),
      ...(tuning.exporters ? { exporters: tuning.exporters } : {}),
      storage: { ...storage, commit_interval_secs: tuning.commit },
      query: { scan_interval_secs: tuning.scan, inactivity_threshold_secs: tuning.inactivity, max_trace_age_secs: tuning.maxAge },
    },
  });
  let peak = rssMiB(svc.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(svc.pid))), 200);
  try {
    const spans = await body(svc);
    console.log(`  [${path.name}] service RSS: peak ${peak.toFixed(0)} MiB, at the end ${rssMiB(svc.pid).toFixed(0)} MiB`);
    const requests = await samples(svc, 'tailsampler_s3_requests_total');
    if (requests.size > 0) {
      const perM = (n: number) => (n * 1e6) / spans;
      const bytes = await samples(svc, 'tailsampler_s3_bytes_total');
      const total = [...requests.values()].reduce((a, b) => a + b, 0);
      const ops = [...requests].map(([op, n]) => `${op} ${perM(n).toFixed(0)}`).join(', ');
      const mb = (direction: string) => (perM(bytes.get(direction) ?? 0) / 1e6).toFixed(1);
      console.log(`  [${path.name}] S3 per million spans: ${perM(total).toFixed(0)} requests (${ops}), ${mb('upload')} MB up, ${mb('download')} MB down`);
    }
  } finally {
    clearInterval(sampler);
    await svc.stop();
    rmSync(svc.dir, { recursive: true, force: true });
  }
}

async function throughput(path: BenchPath, spans: number): Promise<void> {
  await withService(path, { commit: 2, scan: 5, inactivity: 3600, maxAge: 7200 }, async (svc) => {
    const started = performance.now();
    const sent = await loadgen(svc.http, spans / 10, 10, ['--error-ratio', '0.05', '--slow-ratio', '0']);
    await waitFor('all spans committed', async () => (await committed(svc)) >= spans, 600_000, 200);
    const seconds = (performance.now() - started) / 1000;
    console.log(`[${path.name}] receive → committed: ${spans} spans in ${seconds.toFixed(1)} s = ${Math.round(spans / seconds)} spans/s (loadgen sent at ${sent.spansPerSecond} spans/s)`);
    // The S3 figures then cover the commits and the evaluator's reads of every new file.
    await waitFor('evaluated', async () => (await svc.metric('tailsampler_evaluator_live_traces')) >= spans / 10, 300_000, 500);
    return spans;
  });
}

async function decisionLag(path: BenchPath, traces: number): Promise<void> {
  const inactivity = 5;
  await withService(path, { commit: 2, scan: 1, inactivity, maxAge: 600 }, async (svc) => {
    await loadgen(svc.http, traces, 10, ['--error-ratio', '0.1', '--slow-ratio', '0']);
    const sentAt = performance.now();
    await waitFor('all traces decided', async () => (await svc.metric('tailsampler_traces_decided_total')) >= traces, 300_000, 100);
    const lag = (performance.now() - sentAt) / 1000;
    const sum = await svc.metric('tailsampler_decision_lag_seconds_sum');
    const count = await svc.metric('tailsampler_decision_lag_seconds_count');
    console.log(
      `[${path.name}] decision lag: ${traces} traces decided ${lag.toFixed(1)} s after the last was sent (inactivity threshold ${inactivity} s, commit 2 s, scan 1 s); ` +
        `mean last-span-committed → decision ${(sum / count).toFixed(2)} s`,
    );
    return traces * 10;
  });
}

/** An OTLP/HTTP destination on 127.0.0.1 that answers every request after `delayMs`. */
async function destination(delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(), delayMs));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function decisionLagByDestination(path: BenchPath, traces: number): Promise<void> {
  const inactivity = 5;
  const rows: string[] = [];
  for (const delayMs of [0, 2000]) {
    const dest = await destination(delayMs);
    try {
      const otlp = { endpoint: dest.url, compression: 'none', max_batch_spans: 100, timeout_ms: 30_000, sending_queue: { queue_size: 10, num_consumers: 4 } };
      await withService(path, { commit: 2, scan: 1, inactivity, maxAge: 600, exporters: { otlp } }, async (svc) => {
        await loadgen(svc.http, traces, 10, ['--error-ratio', '0.1', '--slow-ratio', '0']);
        const sentAt = performance.now();
        await waitFor('all traces decided', async () => (await svc.metric('tailsampler_traces_decided_total')) >= traces, 300_000, 100);
        const decided = (performance.now() - sentAt) / 1000;
        const kept = await svc.metric('tailsampler_traces_decided_total', { outcome: 'sampled' });
        await waitFor('kept traces delivered', async () => (await svc.metric('tailsampler_exporter_delivered_traces_total')) >= kept, 600_000, 100);
        const delivered = (performance.now() - sentAt) / 1000;
        rows.push(`destination answering in ${delayMs} ms: all ${traces} decided after ${decided.toFixed(1)} s, all ${kept} kept delivered after ${delivered.toFixed(1)} s`);
        return traces * 10;
      });
    } finally {
      await dest.close();
    }
  }
  console.log(`[${path.name}] decision lag by destination speed (inactivity ${inactivity} s, 100 spans a request, 4 consumers):\n  ${rows.join('\n  ')}`);
}

/** Where the service's memory is: V8 heap (committed), buffers outside it (of which the trace summaries), and anonymous memory (heap + malloc + array buffers). */
async function memoryParts(svc: ServiceProcess): Promise<string> {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)}`;
  const heap = await svc.metric('tailsampler_nodejs_heap_size_total_bytes');
  const external = await svc.metric('tailsampler_nodejs_external_memory_bytes');
  const summaries = await svc.metric('tailsampler_evaluator_summary_bytes');
  const spilled = await svc.metric('tailsampler_evaluator_spilled_traces');
  return `V8 heap ${mib(heap)}, external ${mib(external)} (trace summaries ${mib(summaries)}; ${spilled} traces' summaries on disk), anonymous ${anonymousMiB(svc.pid).toFixed(0)} MiB`;
}

/** Anonymous memory of a process (heap, malloc, array buffers; not mapped files), MiB. */
function anonymousMiB(pid: number): number {
  return Number(/^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;
}

async function pendingMemory(path: BenchPath, spans: number): Promise<void> {
  await withService(path, { commit: 5, scan: 5, inactivity: 86_400, maxAge: 172_800 }, async (svc) => {
    const lines: string[] = [];
    const step = spans / 5;
    for (let sent = step; sent <= spans; sent += step) {
      // The step's own peak, while the generator sends as fast as the service takes spans, and the
      // anonymous memory then: what the ingest path holds at full speed, beside what pending spans cost.
      let peak = { rss: 0, anon: 0 };
      const sampler = setInterval(() => {
        const rss = rssMiB(svc.pid);
        if (rss > peak.rss) peak = { rss, anon: anonymousMiB(svc.pid) };
      }, 200);
      try {
        await loadgen(svc.http, step / 10, 10, ['--error-ratio', '0.01', '--slow-ratio', '0']);
        await waitFor('committed', async () => (await committed(svc)) >= sent, 600_000, 500);
      } finally {
        clearInterval(sampler);
      }
      await waitFor('evaluated', async () => (await svc.metric('tailsampler_evaluator_live_traces')) >= sent / 10, 120_000, 500);
      lines.push(
        `${(sent / 1e6).toFixed(1)}M pending: RSS ${rssMiB(svc.pid).toFixed(0)} MiB (${await memoryParts(svc)}); ` +
          `while loading this step: peak ${peak.rss.toFixed(0)} MiB, anonymous ${peak.anon.toFixed(0)} MiB`,
      );
    }
    const live = await svc.metric('tailsampler_evaluator_live_traces');
    console.log(`[${path.name}] pending spans vs memory (${live} live traces of 10 spans, none decided):\n  ${lines.join('\n  ')}`);
    return spans;
  });
}

if (values.peer !== undefined) await runPeerOtelcol(peerOptions(values));
else console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
/** Parquet writing is measured in this process, with no service or infrastructure. */
const parquetOnly = values.only === 'parquet';
if (parquetOnly) await runParquetBench({ spans: Number(values['parquet-spans']) });
if (values.peer === undefined && !parquetOnly && values.path !== 'kafka') {
  const embedded: BenchPath = { name: 'embedded', config: () => ({}) };
  if (run('throughput')) await throughput(embedded, Number(values['throughput-spans']));
  if (run('lag')) await decisionLag(embedded, Number(values['lag-traces']));
  if (run('destination')) await decisionLagByDestination(embedded, Number(values['lag-traces']));
  if (run('memory')) await pendingMemory(embedded, Number(values.spans));
}
if (values.peer === undefined && !parquetOnly && values.path !== 'embedded') {
  let infra: KafkaGarage | undefined;
  // The REST fixture (and Kafka/Garage when started here) run in their own process groups: stop them on ^C too.
  process.once('SIGINT', () => void (infra?.close() ?? Promise.resolve()).finally(() => process.exit(130)));
  try {
    infra = await startKafkaGarage();
    const kafka: BenchPath = { name: 'kafka', config: () => infra!.serviceConfig() };
    await throughput(kafka, Number(values['throughput-spans']));
    await infra.deleteTopics();
    await decisionLag(kafka, Number(values['lag-traces']));
  } finally {
    await infra?.close();
  }
}

/**
 * Benchmarks of the embedded path, printed (never asserted):
 *  1. spans/s from OTLP receive to committed in the Iceberg table;
 *  2. decision lag: from a trace's last span being received to its decision, beyond the inactivity wait;
 *  3. RSS of the service while N spans are pending (undecided), sampled as they pile up, to show
 *     memory does not grow with pending spans.
 * usage: npm run bench [-- --spans 5000000 --throughput-spans 500000]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startService, waitFor, type ServiceProcess } from '../test/support/service.ts';

const BIN = fileURLToPath(new URL('../bin/tailsampler.js', import.meta.url));
const { values } = parseArgs({
  options: {
    spans: { type: 'string', default: '5000000' },
    'throughput-spans': { type: 'string', default: '500000' },
    'lag-traces': { type: 'string', default: '2000' },
  },
});

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function loadgen(endpoint: string, traces: number, spansPerTrace: number, extra: string[] = []): Promise<{ spansPerSecond: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'loadgen', '--endpoint', endpoint, '--traces', String(traces), '--spans-per-trace', String(spansPerTrace), '--traces-per-request', '100', '--concurrency', '4', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`loadgen exited ${code}`))));
  });
}

async function throughput(spans: number): Promise<void> {
  const svc = await startService({
    config: {
      storage: { commit_interval_secs: 2 },
      query: { scan_interval_secs: 5, inactivity_threshold_secs: 3600, max_trace_age_secs: 7200 },
    },
  });
  try {
    const started = performance.now();
    const sent = await loadgen(svc.http, spans / 10, 10, ['--error-ratio', '0.05', '--slow-ratio', '0']);
    await waitFor('all spans committed', async () => (await svc.metric('tailsampler_materializer_committed_spans_total')) >= spans, 600_000, 200);
    const seconds = (performance.now() - started) / 1000;
    console.log(`receive → committed: ${spans} spans in ${seconds.toFixed(1)} s = ${Math.round(spans / seconds)} spans/s (loadgen sent at ${sent.spansPerSecond} spans/s)`);
  } finally {
    await svc.stop();
  }
}

async function decisionLag(traces: number): Promise<void> {
  const inactivity = 5;
  const svc = await startService({
    config: {
      storage: { commit_interval_secs: 2 },
      query: { scan_interval_secs: 1, inactivity_threshold_secs: inactivity, max_trace_age_secs: 600 },
    },
  });
  try {
    await loadgen(svc.http, traces, 10, ['--error-ratio', '0.1', '--slow-ratio', '0']);
    const sentAt = performance.now();
    await waitFor('all traces decided', async () => (await svc.metric('tailsampler_traces_decided_total')) >= traces, 300_000, 100);
    const lag = (performance.now() - sentAt) / 1000;
    const sum = await svc.metric('tailsampler_decision_lag_seconds_sum');
    const count = await svc.metric('tailsampler_decision_lag_seconds_count');
    console.log(
      `decision lag: ${traces} traces decided ${lag.toFixed(1)} s after the last was sent (inactivity threshold ${inactivity} s, commit 2 s, scan 1 s); ` +
        `mean last-span-committed → decision ${(sum / count).toFixed(2)} s`,
    );
  } finally {
    await svc.stop();
  }
}

async function pendingMemory(spans: number): Promise<void> {
  const svc: ServiceProcess = await startService({
    config: {
      storage: { commit_interval_secs: 5 },
      query: { scan_interval_secs: 5, inactivity_threshold_secs: 86_400, max_trace_age_secs: 172_800 },
    },
  });
  try {
    let peak = rssMiB(svc.pid);
    const samples: string[] = [];
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(svc.pid))), 200);
    const step = spans / 5;
    for (let sent = step; sent <= spans; sent += step) {
      await loadgen(svc.http, step / 10, 10, ['--error-ratio', '0.01', '--slow-ratio', '0']);
      await waitFor('committed', async () => (await svc.metric('tailsampler_materializer_committed_spans_total')) >= sent, 600_000, 500);
      await waitFor('evaluated', async () => (await svc.metric('tailsampler_evaluator_live_traces')) >= sent / 10, 120_000, 500);
      samples.push(`${(sent / 1e6).toFixed(1)}M pending: RSS ${rssMiB(svc.pid).toFixed(0)} MiB`);
    }
    clearInterval(sampler);
    const live = await svc.metric('tailsampler_evaluator_live_traces');
    console.log(`pending spans vs memory (${live} live traces of 10 spans, none decided):\n  ${samples.join('\n  ')}`);
    console.log(`peak RSS with ${spans} spans pending: ${peak.toFixed(0)} MiB`);
  } finally {
    await svc.stop();
  }
}

console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
await throughput(Number(values['throughput-spans']));
await decisionLag(Number(values['lag-traces']));
await pendingMemory(Number(values.spans));

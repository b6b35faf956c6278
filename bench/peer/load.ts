/** The load generators: bench/replay.ts (pre-encoded requests) and telemetrygen. */
import { spawn } from 'node:child_process';
import type { ReplayResult } from '../replay.ts';
import { ERROR_SHARE, REPLAY, SLOW_SHARE, SPANS_PER_TRACE, SPANS_PER_WORKER } from './options.ts';
import { track } from './processes.ts';

/** Written by the run's first replay and read by the others: every sampler gets the same requests. */
let templatesFile: string | undefined;

/** From now on every replay writes its requests to `file` once and the later ones read them back. */
export function shareReplayTemplates(file: string): void {
  templatesFile = file;
}

export async function replay(endpoint: string, args: Record<string, string | number | boolean>, timeoutMs: number): Promise<ReplayResult> {
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
export function telemetrygenPlan(endpoint: string, rate: number, spans: number, latencyMs: number): GenPlan {
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

export async function telemetrygen(bin: string, plan: GenPlan, timeoutMs: number): Promise<void> {
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

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './otelcol.ts';
import { freePort } from './service.ts';

/**
 * Datadog's test agent (ddapm-test-agent from PyPI): takes traces as an Agent does (v0.4 msgpack on
 * PUT /v0.4/traces), runs its payload checks on them, and gives back what it received.
 */
export interface RunningDdAgent {
  /** http://127.0.0.1:port, the Agent endpoint. */
  url: string;
  /** Traces received since the session started, spans of the same trace id together, as the test agent decoded them (integers as BigInt). */
  traces(): Promise<DdJsonSpan[][]>;
  /** The trace requests received since the session started, oldest first, as the test agent kept them (header names lowercase). */
  requests(): Promise<{ method: string; url: string; headers: Record<string, string>; body: Buffer }[]>;
  /** The text of /test/trace_check/failures (every session): 'OK' when no check failed. */
  failures(): Promise<{ status: number; text: string }>;
  /** Per check: how often it passed, failed, was skipped (every session). */
  summary(): Promise<Record<string, { Passed_Checks: number; Failed_Checks: number; Skipped_Checks: number }>>;
  stop(): Promise<void>;
}

/** A span as the test agent returns it: integer fields as BigInt (parsed losslessly), metrics as numbers. */
export type DdJsonSpan = {
  service: string;
  name: string;
  resource: string;
  type: string;
  trace_id: bigint;
  span_id: bigint;
  parent_id: bigint;
  start: bigint;
  duration: bigint;
  error: bigint;
  meta: Record<string, string>;
  metrics: Record<string, number>;
};

/** The checks run on every payload; the test agent runs none unless told (its ENABLED_CHECKS variable). */
export const DD_CHECKS = ['trace_count_header', 'meta_tracer_version_header', 'trace_content_length', 'meta_events_is_valid_json', 'trace_peer_service', 'trace_dd_service'];

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** $TAILSAMPLER_DDAGENT, else the executable scripts/ensure-ddagent.sh installs (cached). */
export async function ddAgentBinary(): Promise<string> {
  const fromEnv = process.env.TAILSAMPLER_DDAGENT;
  if (fromEnv) return fromEnv;
  const { stdout } = await execFileAsync('bash', [join(REPO, 'scripts/ensure-ddagent.sh')], { timeout: 10 * 60_000 });
  const path = stdout.trim().split('\n').at(-1);
  if (!path) throw new Error('ensure-ddagent.sh printed no path');
  return path;
}

/** Starts the test agent on 127.0.0.1, on free ports (its OTLP ports too, which default to 4317/4318), and a session. */
export async function startDdAgent(checks: readonly string[] = DD_CHECKS): Promise<RunningDdAgent> {
  const bin = await ddAgentBinary();
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [port, otlpHttp, otlpGrpc] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(bin, ['--host', '127.0.0.1', '--port', String(port), '--otlp-http-port', String(otlpHttp), '--otlp-grpc-port', String(otlpGrpc)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its --enabled-checks flag does not parse a list; the variable does.
      env: { ...process.env, ENABLED_CHECKS: checks.join(','), DD_POOL_TRACE_CHECK_FAILURES: 'true', LOG_LEVEL: 'WARNING' },
    });
    running.add(child);
    const log: string[] = [];
    child.stdout.on('data', (c: Buffer) => log.push(c.toString()));
    child.stderr.on('data', (c: Buffer) => log.push(c.toString()));
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`ddapm-test-agent exited with ${child.exitCode}`);
        return fetch(`${url}/info`).then((r) => r.ok, () => false);
      }, 30_000, 100);
      const start = await fetch(`${url}/test/session/start`);
      if (!start.ok) throw new Error(`session start answered ${start.status}`);
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      running.delete(child);
      lastError = new Error(`${(e as Error).message}\n--- ddapm-test-agent log ---\n${log.join('').slice(-4000)}`);
      continue;
    }
    let stopped: Promise<void> | undefined;
    return {
      url,
      traces: async () => {
        const r = await fetch(`${url}/test/session/traces`);
        if (!r.ok) throw new Error(`/test/session/traces answered ${r.status}: ${await r.text()}`);
        return parseLossless(await r.text()) as DdJsonSpan[][];
      },
      requests: async () => {
        const r = await fetch(`${url}/test/session/requests`);
        if (!r.ok) throw new Error(`/test/session/requests answered ${r.status}`);
        const list = (await r.json()) as { method: string; url: string; headers: Record<string, string>; body: string }[];
        // Header names lowercased: HTTP names are case-insensitive, and clients differ in how they write them.
        return list.reverse().map((q) => ({ ...q, headers: Object.fromEntries(Object.entries(q.headers).map(([k, v]) => [k.toLowerCase(), v])), body: Buffer.from(q.body, 'base64') }));
      },
      failures: async () => {
        const r = await fetch(`${url}/test/trace_check/failures?return_all=true`);
        return { status: r.status, text: await r.text() };
      },
      summary: async () => (await (await fetch(`${url}/test/trace_check/summary?return_all=true`)).json()) as Awaited<ReturnType<RunningDdAgent['summary']>>,
      stop: () =>
        (stopped ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
          }
          running.delete(child);
        })()),
    };
  }
  throw lastError;
}

/** JSON with every integer literal as a BigInt (uint64 ids and nanosecond times do not fit a double). */
export function parseLossless(text: string): unknown {
  const reviver = (_key: string, value: unknown, context?: { source?: string }): unknown =>
    typeof value === 'number' && context?.source !== undefined && /^-?\d+$/.test(context.source) ? BigInt(context.source) : value;
  return JSON.parse(text, reviver);
}


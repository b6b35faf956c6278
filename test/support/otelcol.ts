import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './service.ts';

/** OTLP/JSON objects as the Collector's file exporter writes them (camelCase keys, hex ids, int64 as strings). */
export type OtlpJson = Record<string, unknown>;

export interface ReceivedSpan {
  span: OtlpJson;
  resource: OtlpJson;
  scope: OtlpJson;
  resourceSchemaUrl: string;
  scopeSchemaUrl: string;
}

export interface ReceivedTrace {
  /** Lower-case hex, as in OTLP/JSON. */
  traceId: string;
  spans: ReceivedSpan[];
}

export interface RunningOtelcol {
  /** host:port of the OTLP/gRPC receiver. */
  grpcEndpoint: string;
  /** http://host:port of the OTLP/HTTP receiver (exporters append /v1/traces). */
  httpEndpoint: string;
  /** Everything the Collector wrote to its file exporter so far, grouped by trace in arrival order. */
  received(): Promise<ReceivedTrace[]>;
  /** Stops the Collector (SIGTERM, then SIGKILL) and removes its temp dir; safe to call twice. */
  stop(): Promise<void>;
}

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const running = new Set<ChildProcess>();

// A test that crashes must not leave Collectors holding ports behind it.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * The Collector binary: $TAILSAMPLER_OTELCOL_BIN, else whatever scripts/ensure-otelcol.sh builds
 * (cached, so only the first run on a machine is slow).
 */
export async function otelcolBinary(): Promise<string> {
  const fromEnv = process.env.TAILSAMPLER_OTELCOL_BIN;
  if (fromEnv) return fromEnv;
  const { stdout } = await execFileAsync('bash', [join(REPO, 'scripts/ensure-otelcol.sh')], {
    maxBuffer: 1 << 20,
    timeout: 20 * 60_000,
  });
  const path = stdout.trim().split('\n').at(-1);
  if (!path) throw new Error('ensure-otelcol.sh printed no binary path');
  return path;
}

/**
 * Starts the Collector on 127.0.0.1: OTLP receiver (gRPC + HTTP) → file exporter (JSON lines). With
 * `ports`, on those (a Collector started again where a stopped one was); else on free ones.
 */
export async function startOtelcol(options: { logDir?: string; ports?: { grpc: number; http: number } } = {}): Promise<RunningOtelcol> {
  const bin = await otelcolBinary();
  const dir = await mkdtemp(join(tmpdir(), 'tailsampler-otelcol-'));
  const output = join(dir, 'traces.jsonl');
  const logFile = join(options.logDir ?? dir, 'otelcol.log');
  let lastError: unknown;
  // Free ports are found by binding port 0 and closing it; another process can take one in between,
  // so a Collector that dies on startup is retried on fresh ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [grpcPort, httpPort] = options.ports ? [options.ports.grpc, options.ports.http] : [await freePort(), await freePort()];
    const config = join(dir, 'config.yaml');
    await writeFile(config, collectorConfig(grpcPort, httpPort, output));
    await writeFile(output, '');
    const child = spawn(bin, [`--config=file:${config}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const log: string[] = [];
    const onData = (chunk: Buffer): void => {
      log.push(chunk.toString());
      void appendFile(logFile, chunk).catch(() => {});
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    try {
      await waitReady([grpcPort, httpPort], exited);
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      running.delete(child);
      lastError = new Error(`${(e as Error).message}\n--- collector log ---\n${log.join('').slice(-4000)}`);
      continue;
    }
    let stopped: Promise<void> | undefined;
    return {
      grpcEndpoint: `127.0.0.1:${grpcPort}`,
      httpEndpoint: `http://127.0.0.1:${httpPort}`,
      received: () => readReceived(output),
      stop: () =>
        (stopped ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
            await exited;
            clearTimeout(timer);
          }
          running.delete(child);
          await rm(dir, { recursive: true, force: true });
        })()),
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

function collectorConfig(grpcPort: number, httpPort: number, output: string): string {
  return JSON.stringify({
    receivers: {
      otlp: {
        protocols: {
          grpc: { endpoint: `127.0.0.1:${grpcPort}` },
          http: { endpoint: `127.0.0.1:${httpPort}` },
        },
      },
    },
    exporters: { file: { path: output, format: 'json', flush_interval: '50ms' } },
    service: {
      // No self-metrics endpoint: its fixed default port would clash between parallel Collectors.
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
      pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
    },
  });
}

/** One line of the file exporter: a TracesData in OTLP/JSON. */
interface TracesDataJson {
  resourceSpans?: { resource?: OtlpJson; schemaUrl?: string; scopeSpans?: { scope?: OtlpJson; schemaUrl?: string; spans?: OtlpJson[] }[] }[];
}

async function readReceived(path: string): Promise<ReceivedTrace[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const traces = new Map<string, ReceivedTrace>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // The exporter may be mid-write of the last line; it will be complete on the next read.
    let data: TracesDataJson;
    try {
      data = JSON.parse(line) as TracesDataJson;
    } catch {
      continue;
    }
    for (const rs of data.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          const traceId = String(span.traceId);
          let trace = traces.get(traceId);
          if (!trace) traces.set(traceId, (trace = { traceId, spans: [] }));
          trace.spans.push({
            span,
            resource: rs.resource ?? {},
            scope: ss.scope ?? {},
            resourceSchemaUrl: rs.schemaUrl ?? '',
            scopeSchemaUrl: ss.schemaUrl ?? '',
          });
        }
      }
    }
  }
  return [...traces.values()];
}

/** Polls `predicate` until it returns a truthy value (returned) or `timeoutMs` passes (throws). */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as Exclude<T, undefined | null | false | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`waitFor: condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}


async function waitReady(ports: number[], exited: Promise<number | null>): Promise<void> {
  let dead: number | null | undefined;
  void exited.then((code) => (dead = code)); // exited only ever resolves (on 'exit'): nothing to handle
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (const port of ports) {
    while (!(await canConnect(port))) {
      if (dead !== undefined) throw new Error(`collector exited with code ${dead} before listening`);
      if (Date.now() > deadline) throw new Error(`collector did not listen on ${port} within ${READY_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      res(true);
    });
    socket.once('error', () => res(false));
  });
}

/**
 * Agentless Datadog request bodies decoded as Datadog decodes them: test/infra/dd-agentpayload, a Go
 * program reading the body with Datadog's own pbgo/trace AgentPayload (datadog-agent/pkg/proto at the
 * version its go.mod pins), built by scripts/ensure-dd-agentpayload.sh.
 */
import { execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/** The decoder's JSON: 64-bit integers and times as decimal strings; a non-finite double as "NaN", "+Inf", "-Inf". */
export interface DdPbSpan {
  service: string;
  name: string;
  resource: string;
  trace_id: string;
  span_id: string;
  parent_id: string;
  start: string;
  duration: string;
  error: number;
  meta: Record<string, string>;
  metrics: Record<string, number | string>;
  type: string;
  meta_struct_keys: string[];
  span_links?: { trace_id: string; trace_id_high: string; span_id: string; attributes: Record<string, string>; tracestate: string; flags: number }[];
  span_events?: { time_unix_nano: string; name: string; attribute_keys: string[] }[];
}

export interface DdPbChunk {
  priority: number;
  origin: string;
  dropped_trace: boolean;
  tags: Record<string, string>;
  spans: DdPbSpan[];
}

export interface DdPbTracerPayload {
  container_id: string;
  language_name: string;
  language_version: string;
  tracer_version: string;
  runtime_id: string;
  env: string;
  hostname: string;
  app_version: string;
  tags: Record<string, string>;
  chunks: DdPbChunk[];
}

export interface DdPbAgentPayload {
  host_name: string;
  env: string;
  agent_version: string;
  target_tps: number | string;
  error_tps: number | string;
  rare_sampler_enabled: boolean;
  tags: Record<string, string>;
  tracer_payloads: DdPbTracerPayload[];
  /** The v1.0 (idx) payloads, which this exporter does not send. */
  idx_tracer_payloads: number;
  /** Messages holding a field number pbgo/trace does not declare (a wrong tag), with their byte counts. */
  unknown_fields: { path: string; bytes: number }[];
  compressed_bytes: number;
  bytes: number;
  gzip: boolean;
}

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

/** $TAILSAMPLER_DD_AGENTPAYLOAD, else what scripts/ensure-dd-agentpayload.sh builds (cached). */
export async function ddAgentPayloadBinary(): Promise<string> {
  const fromEnv = process.env.TAILSAMPLER_DD_AGENTPAYLOAD;
  if (fromEnv) return fromEnv;
  const { stdout } = await execFileAsync('bash', [join(REPO, 'scripts/ensure-dd-agentpayload.sh')], { timeout: 10 * 60_000 });
  const path = stdout.trim().split('\n').at(-1);
  if (!path) throw new Error('ensure-dd-agentpayload.sh printed no path');
  return path;
}

/** Runs the decoder on `body`: its exit status, stdout and stderr. */
export function runDecoder(bin: string, body: Uint8Array, args: readonly string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', rej);
    child.once('close', (code) => res({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.on('error', () => {}); // a decoder that exits early closes its stdin; its status says why
    child.stdin.end(body);
  });
}

/** The body as Datadog's pbgo/trace reads it; throws with the decoder's message when it does not decode. */
export async function decodeWithDatadog(bin: string, body: Uint8Array): Promise<DdPbAgentPayload> {
  const r = await runDecoder(bin, body);
  if (r.code !== 0) throw new Error(`dd-agentpayload exited with ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as DdPbAgentPayload;
}

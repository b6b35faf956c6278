/**
 * Replay load generator: OTLP/HTTP protobuf requests encoded once, then sent from memory at a paced
 * rate, so the generator's own CPU per span stays near zero (it shares the cores with what it loads).
 *
 * A handful of request templates (`tailsampler loadgen`'s synthetic traces: a server root span and
 * children, a share with an ERROR span, a share lasting `--slow-ms`) are encoded at start. Before each
 * send, a copy of a template gets fresh trace ids written in place at the byte offsets of its spans'
 * `trace_id` fields: 8 bytes of `--prefix` then an 8-byte big-endian counter, so every trace is new and
 * a sink can tell which trace (counter) it got from the id alone. Nothing else is touched per span.
 *
 * Requests refused (HTTP 429/503), failed (any other non-2xx or a socket error) and spans rejected
 * through `partial_success` are counted; with `--retry` a refused request is sent again after the
 * server's Retry-After (at most 600 times), else it is counted and dropped.
 *
 *   node bench/replay.ts --endpoint http://127.0.0.1:4318 --rate 20000 --seconds 20
 * prints one JSON line: {spans, traces, seconds, spansPerSecond, refusedSpans, failedSpans,
 * rejectedSpans, cpuSeconds, maxInFlight, interestingTraces, failures}. `--send-times FILE` writes each trace's
 * send time (epoch ms, float64 little-endian, indexed by counter) for decision-lag measurement;
 * `--templates FILE` reuses (or first writes) the encoded templates, so runs against different
 * receivers send the same requests.
 */
import { Agent, request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { syntheticRequest } from '../src/cli/synthetic.ts';

export interface ReplayOptions {
  /** http://host:port of an OTLP/HTTP receiver (`/v1/traces` is added). */
  endpoint: string;
  /** Offered spans per second; 0 = as fast as `concurrency` requests in flight allow. */
  rate: number;
  /** Stop after this long (seconds) or `spans`, whichever first. */
  seconds: number;
  spans: number;
  spansPerTrace: number;
  tracesPerRequest: number;
  concurrency: number;
  errorRatio: number;
  slowRatio: number;
  slowMs: number;
  /** 8 bytes (16 hex chars), the first half of every trace id. */
  prefix: string;
  retry: boolean;
  sendTimesFile?: string;
  /** Read the templates from this file when it exists, else write them to it: several runs then send the same requests. */
  templatesFile?: string;
}

export interface ReplayResult {
  spans: number;
  traces: number;
  /** Until the last response. */
  seconds: number;
  /** Paced: spans over the time they were sent in (≥ the time they were due in); else over `seconds`. */
  spansPerSecond: number;
  refusedSpans: number;
  failedSpans: number;
  rejectedSpans: number;
  /** This process's CPU (user + system) during the run. */
  cpuSeconds: number;
  maxInFlight: number;
  /** Traces sent with an ERROR span or lasting `slowMs`. */
  interestingTraces: number;
  /** Failed requests by HTTP status or socket error code. */
  failures: Record<string, number>;
}

const TEMPLATES = 8;
const MAX_RETRIES = 600;

interface Template {
  bytes: Buffer;
  /** Byte offsets of each trace's trace_id fields, `spansPerTrace` per trace. */
  offsets: Int32Array;
  /** Traces with an ERROR span or lasting `slowMs`: those the bench's policies keep. */
  interesting: number;
}

/** Encodes requests with random ids, then finds where each trace id sits in the bytes. */
function templates(o: ReplayOptions): Template[] {
  if (o.templatesFile && existsSync(o.templatesFile)) return readTemplates(o.templatesFile, o);
  const made = Array.from({ length: TEMPLATES }, () => {
    const { bytes, traces } = syntheticRequest({
      traces: o.tracesPerRequest,
      spansPerTrace: o.spansPerTrace,
      errorRatio: o.errorRatio,
      slowRatio: o.slowRatio,
      slowMs: o.slowMs,
    });
    const buf = Buffer.from(bytes);
    const offsets = new Int32Array(traces.length * o.spansPerTrace);
    let k = 0;
    for (const t of traces) {
      const id = Buffer.from(t.traceId, 'hex');
      for (let at = buf.indexOf(id); at >= 0; at = buf.indexOf(id, at + id.length)) offsets[k++] = at;
    }
    if (k !== offsets.length) throw new Error(`found ${k} trace ids in a template, expected ${offsets.length}`);
    return { bytes: buf, offsets, interesting: traces.filter((t) => t.error || t.slow).length };
  });
  if (o.templatesFile) writeTemplates(o.templatesFile, made, o);
  return made;
}

/** Templates as JSON: the shape they were made for, and each one's bytes (base64), offsets and interesting count. */
function writeTemplates(file: string, t: Template[], o: ReplayOptions): void {
  const shape = { spansPerTrace: o.spansPerTrace, tracesPerRequest: o.tracesPerRequest, errorRatio: o.errorRatio, slowRatio: o.slowRatio, slowMs: o.slowMs };
  writeFileSync(file, JSON.stringify({ shape, templates: t.map((x) => ({ bytes: x.bytes.toString('base64'), offsets: [...x.offsets], interesting: x.interesting })) }));
}

function readTemplates(file: string, o: ReplayOptions): Template[] {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { shape: Record<string, number>; templates: { bytes: string; offsets: number[]; interesting: number }[] };
  const shape = { spansPerTrace: o.spansPerTrace, tracesPerRequest: o.tracesPerRequest, errorRatio: o.errorRatio, slowRatio: o.slowRatio, slowMs: o.slowMs };
  if (JSON.stringify(saved.shape) !== JSON.stringify(shape)) throw new Error(`${file} holds templates for ${JSON.stringify(saved.shape)}, not ${JSON.stringify(shape)}`);
  return saved.templates.map((x) => ({ bytes: Buffer.from(x.bytes, 'base64'), offsets: Int32Array.from(x.offsets), interesting: x.interesting }));
}

/** rejected_spans of an ExportTraceServiceResponse's partial_success (field 1 → field 1), else 0. */
export function rejectedSpans(body: Buffer): number {
  if (body.length < 2 || body[0] !== 0x0a) return 0;
  let i = 1;
  let len = 0;
  for (let shift = 0; i < body.length; shift += 7) {
    const b = body[i++]!;
    len += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  if (i >= body.length || body[i] !== 0x08 || len === 0) return 0;
  let n = 0;
  i++;
  for (let shift = 0; i < body.length; shift += 7) {
    const b = body[i++]!;
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  return n;
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  const tpl = templates(o);
  const url = new URL('/v1/traces', o.endpoint);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const prefix = Buffer.from(o.prefix, 'hex');
  if (prefix.length !== 8 || prefix.every((b) => b === 0)) throw new Error('--prefix must be 16 hex chars, not all zero');
  const spansPerRequest = o.tracesPerRequest * o.spansPerTrace;
  // Whole requests only, so every span sent belongs to a trace with a fresh id.
  const maxTraces = Math.floor(o.spans / spansPerRequest) * o.tracesPerRequest;
  if (maxTraces === 0) throw new Error(`--spans must be at least one request (${spansPerRequest} spans)`);
  const sendTimes = o.sendTimesFile ? new Float64Array(maxTraces) : undefined;
  // One buffer per request in flight: a template is copied in, then its trace ids are patched.
  const slots = Array.from({ length: o.concurrency }, () => Buffer.allocUnsafe(Math.max(...tpl.map((t) => t.bytes.length))));
  const free = slots.map((_, i) => i);
  let counter = 0;
  let sentSpans = 0;
  let refused = 0;
  let failed = 0;
  let rejected = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let requestNo = 0;
  let interesting = 0;
  /** Failed requests by HTTP status or socket error. */
  const failures = new Map<string, number>();

  /** status 0: the request failed (`error` says how); -1: a kept-alive socket the server had just closed, safe to send again. */
  const post = (body: Buffer): Promise<{ status: number; retryAfter: number; body: Buffer; error?: string }> =>
    new Promise((resolve) => {
      const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 1), body: Buffer.concat(chunks) }));
        res.on('error', (e) => resolve({ status: 0, retryAfter: 1, body: Buffer.alloc(0), error: e.message }));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        const stale = req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE');
        resolve({ status: stale ? -1 : 0, retryAfter: 0, body: Buffer.alloc(0), error: e.code ?? e.message });
      });
      req.end(body);
    });

  const sendOne = async (): Promise<void> => {
    const slot = free.pop()!;
    const t = tpl[requestNo++ % TEMPLATES]!;
    const buf = slots[slot]!;
    t.bytes.copy(buf);
    const traces = o.tracesPerRequest;
    interesting += t.interesting;
    const now = performance.timeOrigin + performance.now();
    for (let tr = 0; tr < traces; tr++, counter++) {
      const hi = Math.floor(counter / 2 ** 32);
      const lo = counter >>> 0;
      for (let s = tr * o.spansPerTrace, end = s + o.spansPerTrace; s < end; s++) {
        const at = t.offsets[s]!;
        prefix.copy(buf, at);
        buf.writeUInt32BE(hi, at + 8);
        buf.writeUInt32BE(lo, at + 12);
      }
      if (sendTimes) sendTimes[counter] = now;
    }
    const body = buf.subarray(0, t.bytes.length);
    const spans = traces * o.spansPerTrace;
    sentSpans += spans;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      for (let attempt = 0; ; attempt++) {
        const res = await post(body);
        if (res.status >= 200 && res.status < 300) {
          rejected += rejectedSpans(res.body);
          return;
        }
        // The server closed an idle kept-alive socket as this request went out on it: not a refusal.
        if (res.status === -1 && attempt < 3) continue;
        if ((res.status === 429 || res.status === 503) && o.retry && attempt < MAX_RETRIES) {
          await new Promise((r) => setTimeout(r, 1000 * Math.min(5, Math.max(0.1, res.retryAfter || 1))));
          continue;
        }
        if (res.status === 429 || res.status === 503) refused += spans;
        else {
          failed += spans;
          const why = res.status > 0 ? `HTTP ${res.status}` : (res.error ?? 'error');
          failures.set(why, (failures.get(why) ?? 0) + 1);
        }
        return;
      }
    } finally {
      inFlight--;
      free.push(slot);
    }
  };

  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + o.seconds * 1000;
  const pending = new Set<Promise<void>>();
  const totalSpans = maxTraces * o.spansPerTrace;
  while (sentSpans < totalSpans && performance.now() < deadline) {
    const due = o.rate > 0 ? ((performance.now() - started) / 1000) * o.rate : Infinity;
    while (sentSpans < due && sentSpans < totalSpans && free.length > 0) {
      const p = sendOne();
      pending.add(p);
      void p.then(() => pending.delete(p));
    }
    // Paced: wake up often enough for the next request; unpaced: when one in flight finishes.
    if (free.length === 0 || o.rate === 0) await Promise.race(pending);
    else await new Promise((r) => setTimeout(r, Math.max(1, Math.min(20, (spansPerRequest / o.rate) * 1000))));
  }
  // The rate offered: spans sent over the time they were due in (paced), or until the last was sent.
  const sendSeconds = o.rate > 0 ? Math.max(sentSpans / o.rate, (performance.now() - started) / 1000) : (performance.now() - started) / 1000;
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  if (sendTimes && o.sendTimesFile) writeFileSync(o.sendTimesFile, new Uint8Array(sendTimes.buffer, 0, counter * 8));
  return {
    spans: sentSpans,
    traces: counter,
    seconds: +seconds.toFixed(3),
    spansPerSecond: Math.round(sentSpans / (o.rate > 0 ? sendSeconds : seconds)),
    refusedSpans: refused,
    failedSpans: failed,
    rejectedSpans: rejected,
    cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(3),
    maxInFlight,
    interestingTraces: interesting,
    failures: Object.fromEntries(failures),
  };
}

export const REPLAY_OPTIONS = {
  endpoint: { type: 'string', default: 'http://127.0.0.1:4318' },
  rate: { type: 'string', default: '0' },
  seconds: { type: 'string', default: '3600' },
  spans: { type: 'string', default: '1000000' },
  'spans-per-trace': { type: 'string', default: '10' },
  'traces-per-request': { type: 'string', default: '50' },
  concurrency: { type: 'string', default: '8' },
  'error-ratio': { type: 'string', default: '0.05' },
  'slow-ratio': { type: 'string', default: '0.05' },
  'slow-ms': { type: 'string', default: '2000' },
  prefix: { type: 'string' },
  retry: { type: 'boolean', default: false },
  'send-times': { type: 'string' },
  templates: { type: 'string' },
} as const;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values: v } = parseArgs({ options: REPLAY_OPTIONS, strict: true });
  const num = (name: keyof typeof v): number => {
    const n = Number(v[name]);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
    return n;
  };
  const result = await replay({
    endpoint: v.endpoint,
    rate: num('rate'),
    seconds: num('seconds'),
    spans: num('spans'),
    spansPerTrace: Math.max(1, num('spans-per-trace')),
    tracesPerRequest: Math.max(1, num('traces-per-request')),
    concurrency: Math.max(1, num('concurrency')),
    errorRatio: num('error-ratio'),
    slowRatio: num('slow-ratio'),
    slowMs: num('slow-ms'),
    prefix: v.prefix ?? randomBytes(8).toString('hex'),
    retry: v.retry,
    ...(v['send-times'] ? { sendTimesFile: v['send-times'] } : {}),
    ...(v.templates ? { templatesFile: v.templates } : {}),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

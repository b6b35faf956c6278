import * as grpc from '@grpc/grpc-js';
import { syntheticRequest } from './synthetic.ts';

export const LOADGEN_OPTIONS = {
  endpoint: { type: 'string', default: 'http://127.0.0.1:4318' },
  protocol: { type: 'string', default: 'http' },
  traces: { type: 'string', default: '1000' },
  'spans-per-trace': { type: 'string', default: '10' },
  'traces-per-request': { type: 'string', default: '50' },
  concurrency: { type: 'string', default: '4' },
  'error-ratio': { type: 'string', default: '0.05' },
  'slow-ratio': { type: 'string', default: '0.01' },
  'slow-ms': { type: 'string', default: '31000' },
  help: { type: 'boolean', default: false },
} as const;

const HELP = `tailsampler loadgen: send synthetic traces over OTLP and print what happened as JSON.
  --endpoint URL            http://host:port (http) or host:port (grpc)   [http://127.0.0.1:4318]
  --protocol http|grpc                                                  [http]
  --traces N                total traces                                 [1000]
  --spans-per-trace N                                                    [10]
  --traces-per-request N                                                 [50]
  --concurrency N           requests in flight                           [4]
  --error-ratio R           traces with an error span                    [0.05]
  --slow-ratio R            traces lasting --slow-ms                     [0.01]
  --slow-ms MS                                                           [31000]
`;

type Values = { [K in keyof typeof LOADGEN_OPTIONS]?: (typeof LOADGEN_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function int(v: string | undefined, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
  return n;
}

type Send = (body: Uint8Array) => Promise<void>;

function httpSender(endpoint: string): Send {
  const url = new URL('/v1/traces', endpoint).href;
  return async (body) => {
    for (;;) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
      await res.arrayBuffer();
      if (res.ok) return;
      if (res.status === 503 || res.status === 429) {
        await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
        continue;
      }
      throw new Error(`HTTP ${res.status} from ${url}`);
    }
  };
}

/** A raw OTLP/gRPC client: sends ExportTraceServiceRequest bytes as they are. */
export function grpcSender(endpoint: string): { send: Send; close(): void } {
  const target = endpoint.replace(/^https?:\/\//, '');
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const send: Send = (body) =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        body,
        (err) => (err ? reject(err) : resolve()),
      );
    });
  return { send, close: () => client.close() };
}

export async function runLoadgen(values: Values): Promise<number> {
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const total = int(values.traces, 'traces');
  const perRequest = Math.max(1, int(values['traces-per-request'], 'traces-per-request'));
  const spansPerTrace = Math.max(1, int(values['spans-per-trace'], 'spans-per-trace'));
  const concurrency = Math.max(1, int(values.concurrency, 'concurrency'));
  const opts = {
    spansPerTrace,
    errorRatio: int(values['error-ratio'], 'error-ratio'),
    slowRatio: int(values['slow-ratio'], 'slow-ratio'),
    slowMs: int(values['slow-ms'], 'slow-ms'),
  };
  const grpcClient = values.protocol === 'grpc' ? grpcSender(values.endpoint!) : null;
  const send = grpcClient?.send ?? httpSender(values.endpoint!);
  let next = 0;
  let errors = 0;
  let slow = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const n = Math.min(perRequest, total - next);
      next += n;
      const { bytes, traces } = syntheticRequest({ ...opts, traces: n });
      for (const t of traces) {
        if (t.error) errors++;
        if (t.slow) slow++;
      }
      await send(bytes);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  grpcClient?.close();
  const seconds = (performance.now() - started) / 1000;
  const spans = total * spansPerTrace;
  process.stdout.write(
    `${JSON.stringify({ traces: total, spans, errorTraces: errors, slowTraces: slow, seconds: +seconds.toFixed(2), spansPerSecond: Math.round(spans / seconds) })}\n`,
  );
  return 0;
}

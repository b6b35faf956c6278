import type { PartialSpanColumns } from '../../../src/lake/span-schema.ts';
import type { TraceData } from '../../../src/sample/sampler.ts';
import { policyListSchema } from '../../../src/sample/policies/config.ts';
import { buildSampler } from '../../../src/sample/build-sampler.ts';
import type { Sampler } from '../../../src/sample/sampler.ts';
import type { SamplerDeps } from '../../../src/sample/sampler-telemetry.ts';
import { pino } from 'pino';
import type { Counter } from 'prom-client';
import { silentLogger, type Logger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

/** Attribute value shorthand: string, boolean, integer (number or bigint), or {double}. */
export type Val = string | boolean | number | bigint | { double: number };

export interface SpanSpec {
  attrs?: Record<string, Val>;
  resource?: Record<string, Val>;
  /** 0 unset, 1 ok, 2 error. */
  status?: number;
  traceState?: string | null;
  startNs?: bigint;
  endNs?: bigint;
  size?: number;
  root?: boolean;
}

function anyValue(v: Val): object {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number' || typeof v === 'bigint') return { intValue: String(v) };
  return { doubleValue: v.double };
}

function kvs(r: Record<string, Val> | undefined): object[] {
  return Object.entries(r ?? {}).map(([key, v]) => ({ key, value: anyValue(v) }));
}

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A trace as the evaluator hands it over: summary from the spans, plus all columns policies read. */
export function trace(spans: SpanSpec[], traceId = TRACE_ID): TraceData {
  const start = (s: SpanSpec) => s.startNs ?? 1_000_000_000n;
  const end = (s: SpanSpec) => s.endNs ?? start(s) + 5_000_000n;
  const cols: PartialSpanColumns = {
    length: spans.length,
    trace_id: spans.map(() => traceId),
    status_code: spans.map((s) => s.status ?? 0),
    attributes: spans.map((s) => JSON.stringify(kvs(s.attrs))),
    resource: spans.map((s) => JSON.stringify({ attributes: kvs(s.resource) })),
    trace_state: spans.map((s) => s.traceState ?? null),
    start_time_unix_nano: spans.map(start),
    end_time_unix_nano: spans.map(end),
  };
  return {
    summary: {
      traceId,
      spanCount: spans.length,
      errorCount: spans.filter((s) => s.status === 2).length,
      minStartNs: spans.reduce((m, s) => (start(s) < m ? start(s) : m), start(spans[0] ?? {})),
      maxEndNs: spans.reduce((m, s) => (end(s) > m ? end(s) : m), end(spans[0] ?? {})),
      bytes: spans.reduce((n, s) => n + (s.size ?? 100), 0),
      hasRoot: spans.some((s) => s.root ?? false),
      firstSeenMs: 0,
      lastSeenMs: 0,
      lastReceivedMs: 0,
    },
    spans: cols,
  };
}

/** A trace with no rows, as when the sampler asked for no columns. */
export function summaryOnly(t: TraceData): TraceData {
  return { summary: t.summary, spans: null };
}

/** Sampler dependencies with a registry of their own and no log output. */
export function samplerDeps(): SamplerDeps {
  return { metrics: new Metrics(), logger: silentLogger() };
}

/** A logger whose lines are kept, parsed, for assertions. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

/** A counter's value for one label set (0 when the series does not exist). */
export async function counterValue(counter: Counter<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await counter.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want));
  return hit?.value ?? 0;
}

/** Builds a sampler from a raw (unvalidated) policies list, validating it like the config loader. */
export function samplerFor(policies: unknown[], deps: SamplerDeps = samplerDeps()): Sampler {
  return buildSampler(
    {
      sample_errors: true,
      error_sample_rate: 1,
      sample_latency: true,
      latency_threshold_ms: 30_000,
      policies: policyListSchema.parse(policies),
    },
    deps,
  );
}

/** Trace id whose low 56 bits are `r` (14 hex digits). */
export function traceIdWithRandomness(r: bigint): string {
  return `0123456789abcdef01${r.toString(16).padStart(14, '0')}`;
}

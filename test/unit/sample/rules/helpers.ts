import type { ColumnName, PartialSpanColumns } from '../../../../src/lake/span-schema.ts';
import { parseRuleInput } from '../../../../src/sample/rules/rule-schema.ts';
import type { ForceRule } from '../../../../src/sample/rules/rule-store.ts';
import type { TraceData } from '../../../../src/sample/sampler.ts';
import { TRACE_ID, type Val } from '../helpers.ts';

export interface RuleSpan {
  name?: string;
  /** 0–5 */
  kind?: number;
  /** 0 unset, 1 ok, 2 error */
  status?: number;
  /** Resource service.name (also the service_name column); null: none. */
  service?: string | null;
  attrs?: Record<string, Val>;
  resource?: Record<string, Val>;
}

function anyValue(v: Val): object {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number' || typeof v === 'bigint') return { intValue: String(v) };
  return { doubleValue: v.double };
}

const kvs = (r: Record<string, Val>): object[] => Object.entries(r).map(([key, v]) => ({ key, value: anyValue(v) }));

/** A trace whose rows hold every column rules read (or only `columns`). */
export function ruleTrace(spans: RuleSpan[], traceId = TRACE_ID, columns?: readonly ColumnName[]): TraceData {
  const service = (s: RuleSpan) => (s.service === undefined ? 'svc' : s.service);
  const all: PartialSpanColumns = {
    length: spans.length,
    trace_id: spans.map(() => traceId),
    operation_name: spans.map((s) => s.name ?? 'op'),
    span_kind: spans.map((s) => s.kind ?? 1),
    status_code: spans.map((s) => s.status ?? 0),
    service_name: spans.map(service),
    attributes: spans.map((s) => JSON.stringify(kvs(s.attrs ?? {}))),
    resource: spans.map((s) => {
      const svc = service(s);
      return JSON.stringify({ attributes: kvs({ ...(svc !== null ? { 'service.name': svc } : {}), ...s.resource }) });
    }),
  };
  let cols = all;
  if (columns !== undefined) {
    cols = { length: spans.length };
    for (const c of columns) (cols as Record<string, unknown>)[c] = (all as Record<string, unknown>)[c];
  }
  return {
    summary: {
      traceId,
      spanCount: spans.length,
      errorCount: spans.filter((s) => s.status === 2).length,
      minStartNs: 0n,
      maxEndNs: 1n,
      bytes: 100,
      hasRoot: true,
      firstSeenMs: 0,
      lastSeenMs: 0,
      lastReceivedMs: 0,
    },
    spans: cols,
  };
}

let seq = 0;

/** A stored rule from a submitted one (validated as the store validates it). */
export function forceRule(input: Record<string, unknown>, at: { createdMs?: number; id?: string } = {}): ForceRule {
  const v = parseRuleInput({ ttl_secs: 3600, action: 'keep', ...input });
  const created = at.createdMs ?? 1_000_000;
  return {
    id: at.id ?? `rule-${++seq}`,
    action: v.action,
    match: v.match,
    priority: v.priority,
    enabled: v.enabled,
    reason: v.reason,
    created_by: 'test',
    created_at: new Date(created).toISOString(),
    expires_at: new Date(created + v.ttl_secs * 1000).toISOString(),
  };
}

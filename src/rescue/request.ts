import { z } from 'zod';
import { TailsamplerError } from '../errors.ts';
import type { RescueConfig } from './config.ts';

/** One problem with a rescue request, at its path in the submitted JSON (`trace_ids[2]`, `query.attributes[0].value`). */
export interface RescueIssue {
  path: string;
  message: string;
}

/** A rescue request that cannot be run as given; every issue is listed with its path. */
export class RescueInvalidError extends TailsamplerError {
  readonly issues: RescueIssue[];
  constructor(issues: RescueIssue[]) {
    super('TS_RESCUE_INVALID', `rescue request refused: ${issues.map((i) => `${i.path === '' ? '(body)' : i.path}: ${i.message}`).join('; ')}`);
    this.name = 'RescueInvalidError';
    this.issues = issues;
  }
}

export type AttributeOp = 'eq' | 'neq' | 'exists' | 'regex';

/** A condition on a span attribute or a resource attribute of the same span. */
export interface AttributeCondition {
  key: string;
  op: AttributeOp;
  /** The value compared as text (ints, doubles and booleans as OTLP/JSON writes them); null for `exists`. */
  value: string | null;
}

/** Which traces a query rescues: those with at least one span matching every condition. */
export interface RescueQuery {
  service: string | null;
  /** Span start, from inclusive to exclusive, milliseconds since epoch. */
  fromMs: number;
  toMs: number;
  errorOnly: boolean;
  attributes: AttributeCondition[];
}

/** A validated rescue request. */
export type RescueRequest = ({ kind: 'ids'; traceIds: string[] } | { kind: 'query'; query: RescueQuery; limit: number }) & {
  /** Why, as the caller said (kept with the job, logged). */
  reason: string | null;
};

/** Query time range when the request gives none: the last hour. */
export const DEFAULT_RANGE_MS = 3_600_000;

const TRACE_ID = /^[0-9a-fA-F]{32}$/;

/** The request body's schema: validation and the admin API's OpenAPI document come from it. */
export function rescueBodySchema(limits: Pick<RescueConfig, 'max_traces'>) {
  const time = z.iso.datetime({ offset: true }).describe('RFC 3339 time, e.g. 2026-12-01T10:00:00Z');
  const attribute = z
    .object({
      key: z.string().min(1).max(256),
      op: z.enum(['eq', 'neq', 'exists', 'regex']).default('eq').describe('eq/neq compare the value as text; regex matches it; exists needs no value'),
      value: z.string().max(1024).optional(),
    })
    .strict();
  const query = z
    .object({
      service: z.string().min(1).optional().describe('resource attribute service.name of a matching span'),
      from: time.optional().describe('span start at or after (default: an hour before `to`)'),
      to: time.optional().describe('span start before (default: now)'),
      error_only: z.boolean().default(false).describe('only spans with status ERROR match'),
      attributes: z.array(attribute).max(16).default([]).describe('every condition must hold on the same span (its attributes or its resource\'s)'),
    })
    .strict();
  return z
    .object({
      trace_ids: z
        .array(z.string().regex(TRACE_ID, 'must be a trace id: 32 hex characters').refine((s) => !/^0+$/.test(s), 'the all-zero trace id is invalid'))
        .min(1)
        .max(limits.max_traces)
        .optional()
        .describe('trace ids to rescue (give these or `query`)'),
      query: query.optional().describe('rescue the traces matching this (give this or `trace_ids`)'),
      limit: z.number().int().positive().max(limits.max_traces).optional().describe('most traces a query rescues (default `rescue.default_limit`)'),
      reason: z.string().max(1000).optional().describe('why: kept with the job and logged'),
    })
    .strict();
}

function pathOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/** Validates a request body; throws RescueInvalidError with every issue. `nowMs` fills a query's default `to`. */
export function parseRescueRequest(body: unknown, config: Pick<RescueConfig, 'max_traces' | 'default_limit'>, nowMs: number): RescueRequest {
  const parsed = rescueBodySchema(config).safeParse(body ?? null);
  if (!parsed.success) throw new RescueInvalidError(parsed.error.issues.map((i) => ({ path: pathOf(i.path), message: i.message })));
  const b = parsed.data;
  const issues: RescueIssue[] = [];
  const reason = b.reason ?? null;
  if ((b.trace_ids === undefined) === (b.query === undefined)) {
    throw new RescueInvalidError([{ path: '', message: 'give either trace_ids or query (one of them)' }]);
  }
  if (b.trace_ids !== undefined) {
    if (b.limit !== undefined) issues.push({ path: 'limit', message: 'limit goes with a query; trace_ids rescue every id given' });
    if (issues.length > 0) throw new RescueInvalidError(issues);
    return { kind: 'ids', traceIds: [...new Set(b.trace_ids.map((id) => id.toLowerCase()))], reason };
  }
  const q = b.query!;
  const toMs = q.to === undefined ? nowMs : Date.parse(q.to);
  const fromMs = q.from === undefined ? toMs - DEFAULT_RANGE_MS : Date.parse(q.from);
  if (!(fromMs < toMs)) issues.push({ path: q.from === undefined ? 'query.to' : 'query.from', message: 'the time range is empty: from must be before to' });
  const attributes: AttributeCondition[] = q.attributes.map((a, i) => {
    const path = `query.attributes[${i}].value`;
    if (a.op === 'exists') {
      if (a.value !== undefined) issues.push({ path, message: 'exists takes no value' });
      return { key: a.key, op: a.op, value: null };
    }
    if (a.value === undefined) {
      issues.push({ path, message: `${a.op} needs a value` });
      return { key: a.key, op: a.op, value: '' };
    }
    if (a.op === 'regex') {
      try {
        new RegExp(a.value);
      } catch (e) {
        issues.push({ path, message: `not a regular expression: ${(e as Error).message}` });
      }
    }
    return { key: a.key, op: a.op, value: a.value };
  });
  if (issues.length > 0) throw new RescueInvalidError(issues);
  return {
    kind: 'query',
    query: { service: q.service ?? null, fromMs, toMs, errorOnly: q.error_only, attributes },
    limit: b.limit ?? config.default_limit,
    reason,
  };
}

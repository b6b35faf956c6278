import type { ColumnName } from '../../lake/span-schema.ts';
import type { AnyValue } from '../policies/trace-view.ts';
import type { TraceData } from '../sampler.ts';
import { spanKindCode, statusCode } from './rule-schema.ts';
import type { ForceRule, RuleCondition } from './rule-store.ts';
import { numOf, textOf, type TraceFacts } from './trace-facts.ts';

/** A present value's test: its text (null for an array/kvlist) and its number (int/double columns and attributes). */
type ValueTest = (text: string | null, num: number | undefined) => boolean;
/** A condition on span `i` of the trace. */
type SpanTest = (f: TraceFacts, i: number) => boolean;

/** A rule in force, compiled: what it reads and whether a trace matches it. */
export interface CompiledRule {
  readonly rule: ForceRule;
  readonly expiresMs: number;
  readonly createdMs: number;
  /** Span columns its conditions read (none for a trace_id-only rule). */
  readonly columns: readonly ColumnName[];
  /** Whether the trace's rows hold every column the rule reads. */
  canRead(trace: TraceData): boolean;
  matches(facts: TraceFacts): boolean;
}

/**
 * How a condition tests a present value. Every operator is false on an absent key (so `neq` means
 * "present and different": `exists` + `neq` need no combination to skip traces lacking the key).
 */
function valueTest(op: RuleCondition['op'], value: RuleCondition['value']): ValueTest {
  switch (op) {
    case 'exists':
      return () => true;
    case 'eq': {
      const want = String(value);
      return (t) => t === want;
    }
    case 'neq': {
      const want = String(value);
      return (t) => t !== want;
    }
    case 'contains': {
      const s = String(value);
      return (t) => t !== null && t.includes(s);
    }
    case 'prefix': {
      const s = String(value);
      return (t) => t !== null && t.startsWith(s);
    }
    case 'suffix': {
      const s = String(value);
      return (t) => t !== null && t.endsWith(s);
    }
    case 'regex': {
      // Unanchored, as otelcol's string_attribute regexes (Go's MatchString).
      const re = new RegExp(String(value));
      return (t) => t !== null && re.test(t);
    }
    case 'in': {
      const set = new Set((value as readonly (string | number)[]).map(String));
      return (t) => t !== null && set.has(t);
    }
    case 'gt':
      return (_t, n) => n !== undefined && n > (value as number);
    case 'gte':
      return (_t, n) => n !== undefined && n >= (value as number);
    case 'lt':
      return (_t, n) => n !== undefined && n < (value as number);
    case 'lte':
      return (_t, n) => n !== undefined && n <= (value as number);
  }
}

/** kind / status: the value(s) by code, compared with the int column. */
function codeTest(c: RuleCondition, code: (v: unknown) => number | undefined): ValueTest {
  if (c.op === 'exists') return () => true;
  const codes = new Set((Array.isArray(c.value) ? c.value : [c.value]).map((v) => code(v)!));
  return c.op === 'neq' ? (_t, n) => !codes.has(n!) : (_t, n) => codes.has(n!);
}

const anyValueTest = (test: ValueTest) => (v: AnyValue | undefined) => v !== undefined && test(textOf(v), numOf(v));

function spanCondition(c: RuleCondition, columns: Set<ColumnName>): SpanTest {
  switch (c.key) {
    case 'name': {
      columns.add('operation_name');
      const test = valueTest(c.op, c.value);
      return (f, i) => {
        const s = f.spans.operation_name![i];
        return s != null && test(s, undefined);
      };
    }
    case 'service.name':
      columns.add('service_name');
      return serviceNameTest(valueTest(c.op, c.value));
    case 'kind': {
      columns.add('span_kind');
      const test = codeTest(c, spanKindCode);
      return (f, i) => test(null, f.spans.span_kind![i]);
    }
    case 'status': {
      columns.add('status_code');
      const test = codeTest(c, statusCode);
      return (f, i) => test(null, f.spans.status_code![i]);
    }
    default: {
      columns.add('attributes');
      const test = anyValueTest(valueTest(c.op, c.value));
      const key = c.key;
      const needle = JSON.stringify(key);
      return (f, i) => test(f.spanAttribute(i, key, needle));
    }
  }
}

function serviceNameTest(test: ValueTest): SpanTest {
  return (f, i) => {
    const s = f.spans.service_name![i];
    return s != null && test(s, undefined);
  };
}

/**
 * Resource conditions, tested on each span's resource. Only `service.name` keys: the service_name
 * column (no resource text is read); otherwise the parsed resource.
 */
function resourceConditions(conds: readonly RuleCondition[], columns: Set<ColumnName>): SpanTest[] {
  if (conds.every((c) => c.key === 'service.name')) {
    columns.add('service_name');
    return conds.map((c) => serviceNameTest(valueTest(c.op, c.value)));
  }
  columns.add('resource');
  return conds.map((c) => {
    const test = anyValueTest(valueTest(c.op, c.value));
    const key = c.key;
    return (f, i) => {
      const r = f.resourceOf(i);
      return r !== null && test(r.get(key));
    };
  });
}

/** Whether one span satisfies every test. */
function someSpan(f: TraceFacts, tests: readonly SpanTest[], distinctResources: boolean): boolean {
  const n = f.spans.length;
  const resources = distinctResources ? f.spans.resource : undefined;
  for (let i = 0; i < n; i++) {
    // Spans of one resource hold the same text (rows of a trace are contiguous): test it once.
    if (resources !== undefined && i > 0 && resources[i] === resources[i - 1]) continue;
    let all = true;
    for (const t of tests) {
      if (!t(f, i)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

/**
 * Compiles a validated rule. It matches a trace when every part given holds: the trace id; one
 * span's resource satisfying every resource condition; one span satisfying every span condition.
 */
export function compileRule(rule: ForceRule): CompiledRule {
  const columns = new Set<ColumnName>();
  const traceId = rule.match.trace_id;
  const resource = rule.match.resource ?? [];
  const resourceTests = resource.length > 0 ? resourceConditions(resource, columns) : [];
  const resourceByText = columns.has('resource');
  const spanTests = (rule.match.span ?? []).map((c) => spanCondition(c, columns));
  const cols = [...columns];
  return {
    rule,
    expiresMs: Date.parse(rule.expires_at),
    createdMs: Date.parse(rule.created_at),
    columns: cols,
    canRead: (trace) => {
      if (cols.length === 0) return true;
      const spans = trace.spans;
      if (spans === null) return false;
      for (const c of cols) if (spans[c] === undefined) return false;
      return true;
    },
    matches: (f) => {
      if (traceId !== undefined && f.traceId !== traceId) return false;
      if (resourceTests.length > 0 && !someSpan(f, resourceTests, resourceByText)) return false;
      if (spanTests.length > 0 && !someSpan(f, spanTests, false)) return false;
      return true;
    },
  };
}

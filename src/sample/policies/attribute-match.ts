import type { AnyValue, TraceView } from './trace-view.ts';
import { INVERT_NOT_SAMPLED, INVERT_SAMPLED, NOT_SAMPLED, SAMPLED, type Decision } from './decision.ts';

/** Matches one attribute value; `onSpan` is false for resource attributes. */
export type ValueMatcher = (value: AnyValue, onSpan: boolean) => boolean;

/** Whether any resource or span of the trace has attribute `key` with a matching value (otelcol looks at both). */
export function anyAttributeMatches(view: TraceView, key: number, match: ValueMatcher): boolean {
  const resources = view.resourceValues(key);
  for (let i = 0; i < resources.length; i++) {
    const v = resources[i];
    if (v !== undefined && match(v, false)) return true;
  }
  const spans = view.spanValues(key);
  for (let i = 0; i < spans.length; i++) {
    const v = spans[i];
    if (v !== undefined && match(v, true)) return true;
  }
  return false;
}

/**
 * otelcol's attribute-filter vote. With invert_match a match anywhere is InvertNotSampled (which
 * vetoes the whole decision) and no match at all, including a missing key, is InvertSampled.
 */
export function attributeDecision(view: TraceView, key: number, match: ValueMatcher, invert: boolean): Decision {
  const hit = anyAttributeMatches(view, key, match);
  if (invert) return hit ? INVERT_NOT_SAMPLED : INVERT_SAMPLED;
  return hit ? SAMPLED : NOT_SAMPLED;
}

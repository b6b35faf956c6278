import { thresholdFromHex } from './threshold.ts';

/**
 * W3C tracestate handling for the OpenTelemetry `ot=` member, whose value is `;`-separated
 * `key:value` sub-keys such as `th:c;rv:0123456789abcd`.
 */

/** W3C: at most 32 list members. */
const MAX_MEMBERS = 32;

export interface OtTraceState {
  /** `th` value text, or null when absent. */
  th: string | null;
  /** `rv` value text, or null when absent. */
  rv: string | null;
  /** The other ot sub-keys, verbatim (`key:value`), in order. */
  rest: string[];
}

/** The non-empty list members of a tracestate, trimmed (W3C allows optional whitespace around commas). */
export function traceStateMembers(traceState: string | null): string[] {
  if (traceState === null || traceState === '') return [];
  const out: string[] = [];
  for (const m of traceState.split(',')) {
    const t = m.trim();
    if (t !== '') out.push(t);
  }
  return out;
}

/** Value of the member with `key` (W3C key), or null. */
export function traceStateValue(traceState: string | null, key: string): string | null {
  for (const m of traceStateMembers(traceState)) {
    const eq = m.indexOf('=');
    if (eq > 0 && m.slice(0, eq) === key) return m.slice(eq + 1);
  }
  return null;
}

/** Parses the `ot=` member of a full tracestate. */
export function parseOtTraceState(traceState: string | null): OtTraceState {
  return parseOtValue(traceStateValue(traceState, 'ot'));
}

/** Parses an `ot` member's value (`th:8;rv:...`). */
export function parseOtValue(value: string | null): OtTraceState {
  const out: OtTraceState = { th: null, rv: null, rest: [] };
  if (value === null || value === '') return out;
  for (const part of value.split(';')) {
    if (part === '') continue;
    const colon = part.indexOf(':');
    const k = colon < 0 ? part : part.slice(0, colon);
    const v = colon < 0 ? '' : part.slice(colon + 1);
    if (k === 'th' && out.th === null) out.th = v;
    else if (k === 'rv' && out.rv === null) out.rv = v;
    else out.rest.push(part);
  }
  return out;
}

/** `rv` as a 56-bit integer (exactly 14 hex digits per the spec); null when absent or malformed. */
export function parseRandomness(rv: string | null): bigint | null {
  if (rv === null || !/^[0-9a-f]{14}$/.test(rv)) return null;
  return BigInt(`0x${rv}`);
}

/**
 * `ot=th:<th>`, the tracestate of a kept span that had none (most do): one string per threshold in
 * a row rather than one per span, as every span of a kept trace gets the same.
 */
let lastTh: string | null = null;
let lastOwnState = '';
function ownState(th: string): string {
  if (th !== lastTh) {
    lastTh = th;
    lastOwnState = `ot=th:${th}`;
  }
  return lastOwnState;
}

/**
 * Records our sampling threshold `th` in the `ot=` member: created if missing, else updated keeping
 * its other sub-keys (rv, …) and the other vendors' members; the modified `ot` member moves to the
 * front, as W3C asks of a changed member. An existing larger threshold is kept: a span head-sampled
 * at th:8 that we keep at th:0 was still only sampled with probability 1/2 end to end.
 */
export function withThreshold(traceState: string | null, th: string): string {
  if (traceState === null || traceState === '') return ownState(th);
  const members = traceStateMembers(traceState);
  let ot: OtTraceState = { th: null, rv: null, rest: [] };
  const others: string[] = [];
  for (const m of members) {
    if (m.startsWith('ot=')) ot = parseOtValue(m.slice(3));
    else others.push(m);
  }
  const ours = thresholdFromHex(th);
  const existing = ot.th === null ? null : thresholdFromHex(ot.th);
  const keep = existing !== null && (ours === null || existing > ours) ? ot.th! : th;
  const parts = [`th:${keep}`];
  if (ot.rv !== null) parts.push(`rv:${ot.rv}`);
  parts.push(...ot.rest);
  // W3C: when a new member would exceed the limit, members are dropped from the right.
  const kept = others.slice(0, MAX_MEMBERS - 1);
  return [`ot=${parts.join(';')}`, ...kept].join(',');
}

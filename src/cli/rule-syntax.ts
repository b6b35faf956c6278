import type { RuleCondition, RuleMatch } from '../sample/rules/rule-store.ts';

/** A command line that cannot be understood (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The compact condition syntax of `tailsampler rules add --resource/--span`:
 *
 *   key=value     eq          key!=value    neq
 *   key^=prefix   prefix      key$=suffix   suffix
 *   key*=text     contains    key~=regex    regex
 *   key>=n  key>n  key<=n  key<n           gte gt lte lt (numbers)
 *   key in a,b,c  in          key exists    exists
 *
 * Values are strings (numbers for the comparisons); for other typed values use --match-json.
 */
const INFIX: readonly [string, RuleCondition['op']][] = [
  ['!=', 'neq'],
  ['^=', 'prefix'],
  ['$=', 'suffix'],
  ['*=', 'contains'],
  ['~=', 'regex'],
  ['>=', 'gte'],
  ['<=', 'lte'],
  ['=', 'eq'],
  ['>', 'gt'],
  ['<', 'lt'],
];
const COMPARISONS = new Set<RuleCondition['op']>(['gt', 'gte', 'lt', 'lte']);
const KEY = /^[^\s=!^$*~<>]+$/;

export function parseCondition(text: string): RuleCondition {
  const word = /^(\S+)\s+(in|exists)(?:\s+(.*))?$/.exec(text.trim());
  if (word !== null && KEY.test(word[1]!)) {
    const [, key, op, rest] = word as unknown as [string, string, 'in' | 'exists', string | undefined];
    if (op === 'exists') {
      if (rest !== undefined) throw new UsageError(`condition "${text}": nothing may follow "exists"`);
      return { key, op: 'exists' };
    }
    const values = (rest ?? '').split(',').map((v) => v.trim()).filter((v) => v !== '');
    if (values.length === 0) throw new UsageError(`condition "${text}": "in" needs a comma-separated list of values`);
    return { key, op: 'in', value: values };
  }
  // The first operator character splits key from operator (keys cannot hold any).
  const at = text.search(/[=!^$*~<>]/);
  if (at <= 0) throw new UsageError(`condition "${text}": expected key=value, key!=v, key^=prefix, key$=suffix, key*=text, key~=regex, key>=n, key in a,b or key exists`);
  const key = text.slice(0, at).trim();
  const rest = text.slice(at);
  const infix = INFIX.find(([sym]) => rest.startsWith(sym));
  if (infix === undefined || !KEY.test(key)) throw new UsageError(`condition "${text}": unknown operator`);
  const [sym, op] = infix;
  const raw = rest.slice(sym.length);
  if (COMPARISONS.has(op)) {
    const n = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`condition "${text}": ${sym} needs a number`);
    return { key, op, value: n };
  }
  return { key, op, value: raw };
}

/** A condition written back in the compact syntax (for listings). */
export function formatCondition(c: RuleCondition): string {
  if (c.op === 'exists') return `${c.key} exists`;
  if (c.op === 'in') return `${c.key} in ${Array.isArray(c.value) ? c.value.join(',') : String(c.value)}`;
  const sym = INFIX.find(([, op]) => op === c.op)?.[0] ?? `?${c.op}?`;
  return `${c.key}${sym}${typeof c.value === 'string' ? c.value : JSON.stringify(c.value)}`;
}

export function formatMatch(m: RuleMatch): string {
  const parts: string[] = [];
  if (m.trace_id !== undefined) parts.push(`trace_id=${m.trace_id}`);
  for (const c of m.resource ?? []) parts.push(`resource:${formatCondition(c)}`);
  for (const c of m.span ?? []) parts.push(`span:${formatCondition(c)}`);
  return parts.join(' ');
}

const UNIT_SECS: Readonly<Record<string, number>> = { d: 86_400, h: 3600, m: 60, s: 1 };

/** `90`, `90s`, `15m`, `1h`, `1h30m`, `2d` → seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n > 0) return n;
  } else if (/^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$/.test(t) && t !== '') {
    let secs = 0;
    for (const [, n, unit] of t.matchAll(/(\d+)([dhms])/g)) secs += Number(n) * UNIT_SECS[unit!]!;
    if (secs > 0) return secs;
  }
  throw new UsageError(`duration "${text}": expected seconds or e.g. 90s, 15m, 1h, 1h30m, 2d (more than zero)`);
}

/** Seconds → `1h30m` (for listings). */
export function formatDuration(secs: number): string {
  if (secs <= 0) return 'expired';
  let left = Math.round(secs);
  let out = '';
  for (const [unit, size] of Object.entries(UNIT_SECS)) {
    const n = Math.floor(left / size);
    if (n > 0) out += `${n}${unit}`;
    left -= n * size;
  }
  return out;
}

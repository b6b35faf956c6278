/**
 * Lossless numbers for OTLP/JSON. The proto3 JSON mapping lets a sender write a 64-bit integer as a
 * JSON number (`"startTimeUnixNano":1764620000123456789`), which `JSON.parse` rounds through a double.
 * `parseJsonLossless` scans the text (one pass, `indexOf` over string contents) for number tokens
 * a double may not hold exactly: integers of more than 15 digits, and fraction/exponent forms outside
 * `doubleValue`, whose integral value must be decided on the decimal text. Those tokens, and only
 * those, are rewritten into strings carrying their source text behind a marker, so one plain
 * `JSON.parse` still does the work (a `JSON.parse` reviver with `context.source` costs ~5× the parse,
 * on every value). Everything else is untouched: a request without such numbers is parsed as before.
 *
 * The marker is two unpaired low surrogates, which no well-formed string holds. Text in which a
 * string starts with them anyway is refused rather than misread.
 */
import { InvalidRequestError } from './errors.ts';

/** Prefix of a string that stands for a JSON number token; the token's source text follows it. */
const MARK = 0xdfff;
const MARK_ESCAPE = '"\\udfff\\udfff';
/** A string starting with the marker, raw or escaped (in any case). */
const MARK_COLLISION = /"(?:\\u[dD][fF][fF][fF]|\udfff)(?:\\u[dD][fF][fF][fF]|\udfff)/;

/** Longest plain integer token kept as a JSON number: every such value is exact in a double. */
const SAFE_DIGITS = 15;
/**
 * What an unsafe number token looks like where a value starts, outside doubleValue: a superset of what
 * the scan marks (it also matches inside strings), tested first because a native regex pass costs
 * about half the scan, and most senders write 64-bit integers as strings.
 */
const CANDIDATE = /(?<!"double(?:Value|_value)"\s*)[:,[]\s*-?\d(?:\d{15}|\d*[.eE+-])/;

/** A JSON number's own syntax (no '+', hex, blanks, or bare '.5' / '1.'). */
export const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** The source text of a number token that `parseJsonLossless` turned into a marked string, else null. */
export function markedNumber(v: unknown): string | null {
  return typeof v === 'string' && v.charCodeAt(0) === MARK && v.charCodeAt(1) === MARK ? v.slice(2) : null;
}

/** `JSON.parse`, except that number tokens a double cannot be trusted with come back as marked strings. */
export function parseJsonLossless(text: string): unknown {
  // Checked whether or not anything gets marked: `markedNumber` would misread such a string either way.
  // Escapes are rare in OTLP/JSON, so two native searches usually settle it.
  if ((text.indexOf('\\u') >= 0 || text.indexOf('\udfff') >= 0) && MARK_COLLISION.test(text)) {
    throw new InvalidRequestError('a JSON string starts with the unpaired surrogates \\udfff\\udfff, which is not valid Unicode');
  }
  if (!CANDIDATE.test(text)) return JSON.parse(text);
  const marks = unsafeNumbers(text);
  if (marks === null) return JSON.parse(text);
  let out = '';
  let last = 0;
  for (let i = 0; i < marks.length; i += 2) {
    out += text.slice(last, marks[i]) + MARK_ESCAPE + text.slice(marks[i], marks[i + 1]) + '"';
    last = marks[i + 1]!;
  }
  return JSON.parse(out + text.slice(last));
}

/**
 * [start, end) pairs of the number tokens to rewrite, or null when there are none. Malformed text is
 * scanned without complaint: `JSON.parse` reports it afterwards.
 */
function unsafeNumbers(t: string): number[] | null {
  let marks: number[] | null = null;
  const n = t.length;
  // Content range of the last string and where it ended: the key a number token may belong to.
  let keyStart = 0;
  let keyEnd = -1;
  let i = 0;
  while (i < n) {
    const c = t.charCodeAt(i);
    if (c === 0x22) {
      const start = i + 1;
      let q = t.indexOf('"', start);
      // A quote preceded by an odd run of backslashes is escaped.
      for (;;) {
        if (q < 0) return marks;
        let k = q - 1;
        while (k >= start && t.charCodeAt(k) === 0x5c) k--;
        if ((q - 1 - k) % 2 === 0) break;
        q = t.indexOf('"', q + 1);
      }
      keyStart = start;
      keyEnd = q;
      i = q + 1;
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) {
      i++;
      continue;
    }
    const start = i;
    if (c === 0x2d) i++;
    let digits = 0;
    while (i < n) {
      const d = t.charCodeAt(i);
      if (d < 0x30 || d > 0x39) break;
      digits++;
      i++;
    }
    let plain = true;
    while (i < n) {
      const d = t.charCodeAt(i);
      if (d !== 0x2e && d !== 0x65 && d !== 0x45 && d !== 0x2b && d !== 0x2d && (d < 0x30 || d > 0x39)) break;
      plain = false;
      i++;
    }
    if (plain && digits <= SAFE_DIGITS) continue;
    if (isDoubleValue(t, keyStart, keyEnd, start)) continue;
    (marks ??= []).push(start, i);
  }
  return marks;
}

/** Whether the token at `at` is the value of the member whose key is t[keyStart, keyEnd) and that key is doubleValue. */
function isDoubleValue(t: string, keyStart: number, keyEnd: number, at: number): boolean {
  const len = keyEnd - keyStart;
  if (len === 11 ? !t.startsWith('doubleValue', keyStart) : len !== 12 || !t.startsWith('double_value', keyStart)) return false;
  let colon = false;
  for (let k = keyEnd + 1; k < at; k++) {
    const c = t.charCodeAt(k);
    if (c === 0x3a && !colon) colon = true;
    else if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return colon;
}

const PLAIN_INTEGER = /^-?\d+$/;
const INTEGER_TEXT = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * The exact integer a decimal text denotes (a number when it has at most 15 digits, else a bigint), as protobuf's reference JSON parsers decide it (Go's
 * protojson, Java's JsonFormat): plain digits, or a fraction/exponent form whose value is integral
 * (`1e3`, `1.5e1`, `100e-2`; `1.5` and `1e-1` are not). Null when the text is not a number, 'fraction'
 * when its value is not integral, 'range' when it has more than 20 digits (no 64-bit integer does).
 * Never goes through a double, and never builds a huge BigInt from a huge exponent.
 */
export function exactInteger(text: string): number | bigint | null | 'fraction' | 'range' {
  if (text.length <= 20 && PLAIN_INTEGER.test(text)) return text.length <= SAFE_DIGITS ? Number(text) : BigInt(text);
  const m = INTEGER_TEXT.exec(text);
  if (m === null) return null;
  const frac = m[3] ?? '';
  let digits = (m[2]! + frac).replace(/^0+/, '');
  if (digits === '') return 0n;
  let exp = (m[4] === undefined ? 0 : Number(m[4])) - frac.length;
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  if (exp < 0) return 'fraction';
  if (digits.length + exp > 20) return 'range';
  const value = BigInt(digits + '0'.repeat(exp));
  return m[1] === '-' ? -value : value;
}

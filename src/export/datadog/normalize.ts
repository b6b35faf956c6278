/**
 * Datadog's tag-value normalization, as the Agent applies it to values it reads from OTel attributes
 * (service, env, version, the parts of operation names): lowercase; letters, digits, `:`, `.`, `/`
 * and `-` kept; every run of anything else (`_` included) becomes one `_`, and a run at the end is
 * dropped; at most 200 characters.
 */

const MAX_TAG_CHARS = 200;
/** Datadog's limits, in UTF-8 bytes. */
export const MAX_SERVICE_BYTES = 100;
export const MAX_RESOURCE_BYTES = 5000;
/** The Agent's service when normalization leaves nothing. */
export const FALLBACK_SERVICE = 'unnamed-service';

/** Already normal: valid characters, and an `_` only between two of them. */
const VALID_ASCII = /^(?:[a-z0-9:./-]|_(?=[a-z0-9:./-]))*$/;
const LETTER = /\p{L}/u;
const UPPER = /\p{Lu}/u;
const DIGIT = /\p{Nd}/u;

export function normalizeTagValue(v: string): string {
  // Fast path: already normal and plain ASCII (the usual case).
  if (v.length <= MAX_TAG_CHARS && VALID_ASCII.test(v)) return v;
  let out = '';
  let pendingCut = false;
  let chars = 0;
  let bytes = 0;
  for (const ch of v) {
    const code = ch.codePointAt(0)!;
    bytes += utf8Length(code);
    let c = ch;
    let ok: boolean;
    if ((code >= 0x61 && code <= 0x7a) || code === 0x3a) ok = true;
    else if (code >= 0x41 && code <= 0x5a) {
      c = String.fromCharCode(code + 0x20);
      ok = true;
    } else {
      if (UPPER.test(c)) {
        const low = c.toLowerCase();
        // Only when the lowercase letter is one character of the same width, as the Agent does.
        if ([...low].length === 1 && utf8Length(low.codePointAt(0)!) === utf8Length(code)) c = low;
      }
      ok = LETTER.test(c) || DIGIT.test(c) || c === '.' || c === '/' || c === '-';
    }
    chars++;
    if (ok) {
      if (pendingCut) out += '_';
      pendingCut = false;
      out += c;
    } else {
      pendingCut = true;
    }
    if (bytes >= 2 * MAX_TAG_CHARS || chars >= MAX_TAG_CHARS) break;
  }
  // A cut reaching the end of the value is dropped.
  return out;
}

/** The Agent's NormalizeService: truncated to 100 bytes, normalized, `unnamed-service` when nothing is left. */
export function normalizeService(service: string): string {
  if (service === '') return FALLBACK_SERVICE;
  const s = normalizeTagValue(truncateUtf8(service, MAX_SERVICE_BYTES));
  return s === '' ? FALLBACK_SERVICE : s;
}

/** `s` cut to at most `maxBytes` UTF-8 bytes, never inside a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  // Every UTF-16 unit is at most 3 UTF-8 bytes: short strings need no counting.
  if (s.length * 3 <= maxBytes) return s;
  let bytes = 0;
  let i = 0;
  for (const ch of s) {
    const n = utf8Length(ch.codePointAt(0)!);
    if (bytes + n > maxBytes) return s.slice(0, i);
    bytes += n;
    i += ch.length;
  }
  return s;
}

function utf8Length(code: number): number {
  return code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
}

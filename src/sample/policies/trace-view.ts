import type { PartialSpanColumns } from '../../lake/span-schema.ts';
import type { TraceData } from '../sampler.ts';
import type { AttributeColumn } from '../sampler-telemetry.ts';
import { parseOtTraceState, parseRandomness } from '../tracestate.ts';

/** An OTLP/JSON AnyValue as stored in the attributes/resource columns (intValue arrives as a string). */
export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  [other: string]: unknown;
}

export interface KeyValue {
  key?: unknown;
  value?: AnyValue;
}

const NO_SPANS: PartialSpanColumns = { length: 0 };

/** Told of each attributes/resource text that does not parse (rare: the table holds canonical OTLP/JSON). */
export type UnreadableAttributes = (column: AttributeColumn, traceId: string, err: Error) => void;

/**
 * Attribute keys the configured policies read, fixed when the sampler is built. Each policy holds
 * the index of its key, so per-trace lookups are array accesses.
 */
export class AttributeKeys {
  readonly keys: string[] = [];
  readonly #index = new Map<string, number>();

  register(key: string): number {
    let i = this.#index.get(key);
    if (i === undefined) {
      i = this.keys.length;
      this.keys.push(key);
      this.#index.set(key, i);
    }
    return i;
  }

  indexOf(key: string): number | undefined {
    return this.#index.get(key);
  }
}

/**
 * Lazy per-trace accessors over a trace's rows, reused across traces (the sampler decides one
 * trace at a time). Attribute JSON is parsed only when an attribute policy first asks, at most once
 * per span per trace, and only the registered keys' values are kept. Identical resource texts
 * (the usual case: every span of a service shares one) are parsed once.
 *
 * A text that is not OTLP/JSON (not JSON, or an attributes text that is not an array, a resource
 * that is not an object or whose `attributes` is not an array) is reported to `onUnreadable` and
 * read as no attributes for that span (that resource): one bad row must not hide what the trace's
 * other rows say, nor fail every attribute policy on the trace. A missing (null) text is simply empty.
 */
export class TraceView {
  readonly #keys: AttributeKeys;
  readonly #onUnreadable: UnreadableAttributes;
  /** JSON-encoded `"key"` needles: a text without any of them is not parsed at all. */
  readonly #needles: string[];
  #trace: TraceData | null = null;
  #spans: PartialSpanColumns = NO_SPANS;
  #attrsLoaded = false;
  /** [keyIndex][spanIndex] */
  #spanValues: (AnyValue | undefined)[][] = [];
  /** [keyIndex][distinctResourceIndex] */
  #resourceValues: (AnyValue | undefined)[][] = [];
  #randomness: bigint | null = null;

  constructor(keys: AttributeKeys, onUnreadable: UnreadableAttributes) {
    this.#keys = keys;
    this.#onUnreadable = onUnreadable;
    this.#needles = keys.keys.map((k) => JSON.stringify(k));
  }

  reset(trace: TraceData): void {
    this.#trace = trace;
    this.#spans = trace.spans ?? NO_SPANS;
    this.#attrsLoaded = false;
    this.#randomness = null;
  }

  get spans(): PartialSpanColumns {
    return this.#spans;
  }

  /** Values of attribute `key` on each span (undefined where a span lacks it). */
  spanValues(key: number): readonly (AnyValue | undefined)[] {
    if (!this.#attrsLoaded) this.#loadAttributes();
    return this.#spanValues[key]!;
  }

  /** Values of resource attribute `key`, one entry per distinct resource of the trace. */
  resourceValues(key: number): readonly (AnyValue | undefined)[] {
    if (!this.#attrsLoaded) this.#loadAttributes();
    return this.#resourceValues[key]!;
  }

  /**
   * The trace's 56-bit randomness: the `rv` of an `ot=` tracestate entry when a span carries one
   * (OTel explicit randomness), else the low 56 bits of the trace id.
   */
  randomness(): bigint {
    if (this.#randomness !== null) return this.#randomness;
    let r: bigint | null = null;
    const ts = this.#spans.trace_state;
    if (ts !== undefined) {
      for (let i = 0; i < this.#spans.length && r === null; i++) {
        const s = ts[i];
        if (s != null && s.includes('rv:')) r = parseRandomness(parseOtTraceState(s).rv);
      }
    }
    if (r === null) r = randomnessFromTraceId(this.#trace!.summary.traceId);
    this.#randomness = r;
    return r;
  }

  #loadAttributes(): void {
    this.#attrsLoaded = true;
    const nKeys = this.#keys.keys.length;
    const n = this.#spans.length;
    this.#spanValues = new Array<(AnyValue | undefined)[]>(nKeys);
    this.#resourceValues = new Array<(AnyValue | undefined)[]>(nKeys);
    for (let k = 0; k < nKeys; k++) {
      this.#spanValues[k] = new Array<AnyValue | undefined>(n);
      this.#resourceValues[k] = [];
    }
    if (nKeys === 0) return;
    const attrs = this.#spans.attributes;
    if (attrs !== undefined) {
      for (let i = 0; i < n; i++) {
        const text = attrs[i];
        if (typeof text !== 'string' || !this.#mayContainKey(text)) continue;
        const list = parseList(text);
        if (list instanceof Error) this.#onUnreadable('attributes', this.#trace!.summary.traceId, list);
        else this.#extract(list, i, this.#spanValues);
      }
    }
    const resources = this.#spans.resource;
    if (resources !== undefined) {
      const seen = new Set<string>();
      let r = 0;
      for (let i = 0; i < n; i++) {
        const text = resources[i];
        if (typeof text !== 'string' || seen.has(text)) continue;
        seen.add(text);
        if (!this.#mayContainKey(text)) continue;
        const list = parseResourceAttributes(text);
        if (list instanceof Error) this.#onUnreadable('resource', this.#trace!.summary.traceId, list);
        else this.#extract(list, r++, this.#resourceValues);
      }
    }
  }

  #mayContainKey(text: string): boolean {
    for (const needle of this.#needles) if (text.includes(needle)) return true;
    return false;
  }

  #extract(list: KeyValue[], at: number, into: (AnyValue | undefined)[][]): void {
    for (const kv of list) {
      if (typeof kv?.key !== 'string') continue;
      const k = this.#keys.indexOf(kv.key);
      if (k !== undefined && into[k]![at] === undefined) into[k]![at] = kv.value ?? {};
    }
  }
}

/** A span's attributes text: an OTLP/JSON KeyValue array, or why it is not one. */
export function parseList(text: string): KeyValue[] | Error {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return err as Error;
  }
  return Array.isArray(v) ? (v as KeyValue[]) : new Error(`attributes text is JSON but not an array (${jsonKind(v)})`);
}

/** A resource text: an OTLP/JSON Resource object (`attributes` may be absent), or why it is not one. */
export function parseResourceAttributes(text: string): KeyValue[] | Error {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return err as Error;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return new Error(`resource text is JSON but not an object (${jsonKind(v)})`);
  const attributes = (v as { attributes?: unknown }).attributes;
  if (attributes === undefined) return [];
  return Array.isArray(attributes) ? (attributes as KeyValue[]) : new Error(`resource attributes are not an array (${jsonKind(attributes)})`);
}

function jsonKind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Low 56 bits of a 32-hex-digit trace id (its last 14 hex digits), as the W3C random flag intends. */
export function randomnessFromTraceId(traceId: string): bigint {
  const tail = traceId.slice(-14);
  return /^[0-9a-fA-F]{14}$/.test(tail) ? BigInt(`0x${tail}`) : 0n;
}

/** pcommon's Value.Str(): "" for a non-string value. */
export function strOf(v: AnyValue): string {
  return typeof v.stringValue === 'string' ? v.stringValue : '';
}

/** pcommon's Value.Int(): 0 for a non-int value (a double is not converted, as in otelcol). */
export function intOf(v: AnyValue): number {
  const i = v.intValue;
  if (typeof i === 'number') return i;
  if (typeof i === 'string') {
    const n = Number(i);
    return Number.isFinite(n) ? n : 0;
  }
  return 0;
}

/** pcommon's Value.Bool(): false for a non-bool value. */
export function boolOf(v: AnyValue): boolean {
  return v.boolValue === true;
}

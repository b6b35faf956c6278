import type { PartialSpanColumns } from '../../lake/span-schema.ts';
import type { TraceData } from '../sampler.ts';
import { parseOtTraceState, parseRandomness } from '../tracestate.ts';

/** An OTLP/JSON AnyValue as stored in the attributes/resource columns (intValue arrives as a string). */
export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  [other: string]: unknown;
}

interface KeyValue {
  key?: unknown;
  value?: AnyValue;
}

const NO_SPANS: PartialSpanColumns = { length: 0 };

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
 */
export class TraceView {
  readonly #keys: AttributeKeys;
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

  constructor(keys: AttributeKeys) {
    this.#keys = keys;
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
        if (text !== undefined && this.#mayContainKey(text)) this.#extract(parseList(text), i, this.#spanValues);
      }
    }
    const resources = this.#spans.resource;
    if (resources !== undefined) {
      const seen = new Set<string>();
      let r = 0;
      for (let i = 0; i < n; i++) {
        const text = resources[i];
        if (text === undefined || seen.has(text)) continue;
        seen.add(text);
        if (!this.#mayContainKey(text)) continue;
        const parsed = parseObject(text);
        this.#extract(Array.isArray(parsed?.attributes) ? (parsed.attributes as KeyValue[]) : null, r++, this.#resourceValues);
      }
    }
  }

  #mayContainKey(text: string): boolean {
    for (const needle of this.#needles) if (text.includes(needle)) return true;
    return false;
  }

  #extract(list: KeyValue[] | null, at: number, into: (AnyValue | undefined)[][]): void {
    if (list === null) return;
    for (const kv of list) {
      if (typeof kv?.key !== 'string') continue;
      const k = this.#keys.indexOf(kv.key);
      if (k !== undefined && into[k]![at] === undefined) into[k]![at] = kv.value ?? {};
    }
  }
}

/** Malformed JSON counts as "no attributes": a bad row must not fail the whole trace's decision. */
function parseList(text: string): KeyValue[] | null {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? (v as KeyValue[]) : null;
  } catch {
    return null;
  }
}

function parseObject(text: string): { attributes?: unknown } | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
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

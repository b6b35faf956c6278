import type { PartialSpanColumns } from '../../lake/span-schema.ts';
import { parseList, parseResourceAttributes, type AnyValue, type KeyValue, type UnreadableAttributes } from '../policies/trace-view.ts';
import type { TraceData } from '../sampler.ts';

const NO_SPANS: PartialSpanColumns = { length: 0 };
const NO_ATTRIBUTES: ReadonlyMap<string, AnyValue> = new Map();

/**
 * What force rules read of one trace, reused across traces (the sampler decides one at a time).
 * Attribute and resource texts are parsed only when a condition asks for a key the text contains
 * (a `"key"` needle test first), each at most once per trace; a resource text shared by many spans
 * is parsed once. A text that is not OTLP/JSON is reported and read as no attributes, as the
 * attribute policies read it (TraceView).
 */
export class TraceFacts {
  readonly #onUnreadable: UnreadableAttributes;
  #traceId = '';
  #spans: PartialSpanColumns = NO_SPANS;
  /** Per span: its parsed attributes, once read. */
  #spanAttrs: (ReadonlyMap<string, AnyValue> | undefined)[] = [];
  #resources = new Map<string, ReadonlyMap<string, AnyValue>>();

  constructor(onUnreadable: UnreadableAttributes) {
    this.#onUnreadable = onUnreadable;
  }

  reset(trace: TraceData): void {
    this.#traceId = trace.summary.traceId;
    this.#spans = trace.spans ?? NO_SPANS;
    if (this.#spanAttrs.length > 0) this.#spanAttrs = [];
    if (this.#resources.size > 0) this.#resources = new Map();
  }

  get traceId(): string {
    return this.#traceId;
  }

  get spans(): PartialSpanColumns {
    return this.#spans;
  }

  /** Span attribute `key` of span `i` (`needle` is `JSON.stringify(key)`). */
  spanAttribute(i: number, key: string, needle: string): AnyValue | undefined {
    const text = this.#spans.attributes?.[i];
    if (typeof text !== 'string' || !text.includes(needle)) return undefined;
    let attrs = this.#spanAttrs[i];
    if (attrs === undefined) {
      const list = parseList(text);
      attrs = this.#index(list, 'attributes');
      this.#spanAttrs[i] = attrs;
    }
    return attrs.get(key);
  }

  /** Resource attributes of span `i`, parsed once per distinct resource text; null when the span has none. */
  resourceOf(i: number): ReadonlyMap<string, AnyValue> | null {
    const text = this.#spans.resource?.[i];
    if (typeof text !== 'string') return null;
    let attrs = this.#resources.get(text);
    if (attrs === undefined) {
      attrs = this.#index(parseResourceAttributes(text), 'resource');
      this.#resources.set(text, attrs);
    }
    return attrs;
  }

  #index(list: KeyValue[] | Error, column: 'attributes' | 'resource'): ReadonlyMap<string, AnyValue> {
    if (list instanceof Error) {
      this.#onUnreadable(column, this.#traceId, list);
      return NO_ATTRIBUTES;
    }
    const out = new Map<string, AnyValue>();
    for (const kv of list) if (typeof kv?.key === 'string' && !out.has(kv.key)) out.set(kv.key, kv.value ?? {});
    return out;
  }
}

/** An attribute value as text for eq/in/contains/prefix/suffix/regex; null for an array or kvlist. */
export function textOf(v: AnyValue): string | null {
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.intValue === 'string' || typeof v.intValue === 'number') return String(v.intValue);
  if (typeof v.doubleValue === 'number') return String(v.doubleValue);
  if (typeof v.boolValue === 'boolean') return String(v.boolValue);
  return null;
}

/** An int or double attribute as a number (gt/gte/lt/lte); undefined for anything else, numeric strings included. */
export function numOf(v: AnyValue): number | undefined {
  const i = v.intValue;
  if (typeof i === 'number') return i;
  if (typeof i === 'string') {
    const n = Number(i);
    return Number.isFinite(n) ? n : undefined;
  }
  return typeof v.doubleValue === 'number' ? v.doubleValue : undefined;
}

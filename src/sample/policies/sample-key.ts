import type { ColumnName, PartialSpanColumns } from '../../lake/span-schema.ts';
import type { AnyValue, AttributeKeys, TraceView } from './trace-view.ts';

/** Key fields read from a column rather than from the attribute texts. */
export const COLUMN_FIELDS = {
  'service.name': 'service_name',
  'span.name': 'operation_name',
  'span.kind': 'span_kind',
  'span.status': 'status_code',
} as const satisfies Record<string, ColumnName>;

type ColumnField = (typeof COLUMN_FIELDS)[keyof typeof COLUMN_FIELDS];

const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_NAMES = ['UNSET', 'OK', 'ERROR'];

/** Longest key kept (longer keys are cut): bounds the memory max_keys keys can take. */
export const MAX_KEY_CHARS = 512;
/** Between the values of one field, and between fields (as Refinery's keys). */
const VALUE_SEPARATOR = ',';
const FIELD_SEPARATOR = '•';

type Field = { column: ColumnField } | { attribute: number };

/**
 * A trace's sampling key from `key_fields`, built as Refinery builds it: for each field, the distinct
 * values it has on any span of the trace, sorted and joined with ",", and the fields joined with "•"
 * in the order listed (a field no span has contributes ""). `service.name`, `span.name`,
 * `span.kind` (`server`, `client`, …) and `span.status` (`UNSET`, `OK`, `ERROR`) come from their
 * columns; any other name is an attribute key, looked up on the spans and their resources (as the
 * attribute policies do).
 */
export class SampleKey {
  readonly #fields: Field[];
  readonly #values = new Set<string>();

  constructor(names: readonly string[], keys: AttributeKeys) {
    this.#fields = names.map((n) => {
      const column = (COLUMN_FIELDS as Record<string, ColumnField | undefined>)[n];
      return column !== undefined ? { column } : { attribute: keys.register(n) };
    });
  }

  collectColumns(into: Set<ColumnName>): void {
    for (const f of this.#fields) {
      if ('column' in f) into.add(f.column);
      else {
        into.add('attributes');
        into.add('resource');
      }
    }
  }

  build(view: TraceView): string {
    let key = '';
    for (let i = 0; i < this.#fields.length; i++) {
      const f = this.#fields[i]!;
      const values = this.#values;
      values.clear();
      if ('column' in f) addColumnValues(view.spans, f.column, values);
      else {
        addAttributeValues(view.resourceValues(f.attribute), values);
        addAttributeValues(view.spanValues(f.attribute), values);
      }
      if (i > 0) key += FIELD_SEPARATOR;
      if (values.size === 1) key += values.values().next().value!;
      else if (values.size > 1) key += [...values].sort().join(VALUE_SEPARATOR);
      if (key.length > MAX_KEY_CHARS) return key.slice(0, MAX_KEY_CHARS);
    }
    return key;
  }
}

function addColumnValues(spans: PartialSpanColumns, column: ColumnField, into: Set<string>): void {
  const col = spans[column];
  if (col === undefined) return;
  for (let i = 0; i < spans.length; i++) {
    const v = col[i];
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') into.add(v);
    else if (column === 'span_kind') into.add(KIND_NAMES[v] ?? String(v));
    else into.add(STATUS_NAMES[v] ?? String(v));
  }
}

function addAttributeValues(values: readonly (AnyValue | undefined)[], into: Set<string>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== undefined) into.add(valueText(v));
  }
}

/** An attribute value as key text: strings as they are, numbers and booleans printed, others as JSON. */
function valueText(v: AnyValue): string {
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.intValue === 'string' || typeof v.intValue === 'number') return String(v.intValue);
  if (typeof v.boolValue === 'boolean') return String(v.boolValue);
  if (typeof v.doubleValue === 'number') return String(v.doubleValue);
  return JSON.stringify(v);
}

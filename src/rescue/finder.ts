import type { TraceLocation } from '../evaluate/trace-reader.ts';
import { TRACE_ID_BUCKETS, type ColumnName } from '../lake/span-schema.ts';
import type { DataFileRef, SpanTable } from '../lake/table.ts';
import { bucketString } from '../lake/transforms.ts';
import type { AttributeCondition, RescueQuery } from './request.ts';

const DAY_MS = 86_400_000;
const STATUS_ERROR = 2;

/** How far a search got; updated in place as files are read. */
export interface SearchProgress {
  filesTotal: number;
  filesScanned: number;
  tracesFound: number;
}

/** Where rescued traces are: each with the range of files holding it, and those files. */
export interface Located {
  locations: TraceLocation[];
  /** The files holding at least one of the traces. */
  files: DataFileRef[];
  /** Ids no live file holds (past retention, or never received). */
  notFound: string[];
}

/** Checked between files: a search stops at the next file once it says stop. */
export type StopSignal = () => boolean;

/**
 * Files that may hold each trace: those of its trace_id bucket (or of no bucket) whose trace_id bounds
 * take it. Pure; the reads confirm.
 */
export function candidateFiles(files: readonly DataFileRef[], traceIds: readonly string[]): Map<DataFileRef, Set<string>> {
  const byBucket = new Map<number, string[]>();
  for (const id of traceIds) {
    const b = bucketString(id, TRACE_ID_BUCKETS);
    const list = byBucket.get(b);
    if (list === undefined) byBucket.set(b, [id]);
    else list.push(id);
  }
  const out = new Map<DataFileRef, Set<string>>();
  for (const f of files) {
    const ids = f.traceIdBucket === null ? traceIds : (byBucket.get(f.traceIdBucket) ?? []);
    for (const id of ids) {
      if (f.traceIdMin !== null && id < f.traceIdMin) continue;
      if (f.traceIdMax !== null && id > f.traceIdMax) continue;
      let set = out.get(f);
      if (set === undefined) out.set(f, (set = new Set()));
      set.add(id);
    }
  }
  return out;
}

/**
 * Finds where each trace's rows are among `files` (the table's live files): each candidate file is
 * read once, trace_id only, for every trace it may hold. A trace no file holds is not found.
 */
export async function locateTraces(
  table: SpanTable,
  files: readonly DataFileRef[],
  traceIds: readonly string[],
  progress: SearchProgress,
  stop: StopSignal = () => false,
): Promise<Located> {
  const plan = candidateFiles(files, traceIds);
  progress.filesTotal += plan.size;
  const ranges = new Map<string, { first: number; last: number }>();
  const holding: DataFileRef[] = [];
  for (const [file, ids] of plan) {
    if (stop()) break;
    const cols = await table.read(file, ['trace_id'], ids);
    progress.filesScanned++;
    const present = new Set<string>();
    for (let i = 0; i < cols.length; i++) present.add(cols.trace_id![i]!);
    for (const id of present) {
      if (!ids.has(id)) continue;
      const r = ranges.get(id);
      if (r === undefined) {
        ranges.set(id, { first: file.sequenceNumber, last: file.sequenceNumber });
        progress.tracesFound++;
      } else {
        r.first = Math.min(r.first, file.sequenceNumber);
        r.last = Math.max(r.last, file.sequenceNumber);
      }
    }
    if (present.size > 0) holding.push(file);
  }
  const locations: TraceLocation[] = [];
  const notFound: string[] = [];
  for (const id of traceIds) {
    const r = ranges.get(id);
    if (r === undefined) notFound.push(id);
    else locations.push({ traceId: id, firstSeq: r.first, lastSeq: r.last });
  }
  return { locations, files: holding, notFound };
}

/** The file's day partition (days since epoch), or null when the table is not partitioned that way. */
function dayOf(file: DataFileRef): number | null {
  const day = (file.partition as unknown as Record<string, unknown>).timestamp_day;
  return typeof day === 'number' ? day : null;
}

/** Files whose day partition overlaps the query's time range (all files of a table without one), newest first. */
export function filesInRange(files: readonly DataFileRef[], query: Pick<RescueQuery, 'fromMs' | 'toMs'>): DataFileRef[] {
  const fromDay = Math.floor(query.fromMs / DAY_MS);
  const toDay = Math.floor((query.toMs - 1) / DAY_MS);
  return files
    .filter((f) => {
      const day = dayOf(f);
      return day === null || (day >= fromDay && day <= toDay);
    })
    .sort((a, b) => b.sequenceNumber - a.sequenceNumber);
}

/** The columns a query reads: only those its conditions look at. */
export function queryColumns(query: RescueQuery): ColumnName[] {
  const cols: ColumnName[] = ['trace_id', 'timestamp'];
  if (query.service !== null) cols.push('service_name');
  if (query.errorOnly) cols.push('status_code');
  if (query.attributes.length > 0) cols.push('attributes', 'resource');
  return cols;
}

/**
 * Ids of up to `limit` traces with a span matching the query, newest files first: only files whose
 * day partition is in the time range are read, and of them only the columns the conditions need.
 */
export async function findTraces(
  table: SpanTable,
  files: readonly DataFileRef[],
  query: RescueQuery,
  limit: number,
  progress: SearchProgress,
  stop: StopSignal = () => false,
): Promise<string[]> {
  const inRange = filesInRange(files, query);
  progress.filesTotal += inRange.length;
  const columns = queryColumns(query);
  const fromUs = BigInt(query.fromMs) * 1000n;
  const toUs = BigInt(query.toMs) * 1000n;
  const matchAttributes = attributeMatcher(query.attributes);
  const found = new Set<string>();
  for (const file of inRange) {
    if (found.size >= limit || stop()) break;
    const c = await table.read(file, columns);
    progress.filesScanned++;
    for (let i = 0; i < c.length && found.size < limit; i++) {
      const id = c.trace_id![i]!;
      if (found.has(id)) continue;
      const ts = BigInt(c.timestamp![i]!);
      if (ts < fromUs || ts >= toUs) continue;
      if (query.service !== null && c.service_name![i] !== query.service) continue;
      if (query.errorOnly && c.status_code![i] !== STATUS_ERROR) continue;
      if (matchAttributes !== null && !matchAttributes(c.attributes![i]!, c.resource![i]!)) continue;
      found.add(id);
      progress.tracesFound++;
    }
  }
  return [...found];
}

interface KeyValueJson {
  key?: string;
  value?: Record<string, unknown>;
}

/** An OTLP/JSON AnyValue as text: strings as they are, ints, doubles and booleans as written, the rest as JSON. */
function valueText(v: Record<string, unknown> | undefined): string {
  if (v === undefined) return '';
  for (const k of ['stringValue', 'intValue', 'doubleValue', 'boolValue'] as const) if (k in v) return String(v[k]);
  return JSON.stringify(v);
}

/** The attribute's value as text in an OTLP/JSON KeyValue array, or undefined when absent or unreadable. */
function lookup(list: unknown, key: string): string | undefined {
  if (!Array.isArray(list)) return undefined;
  for (const kv of list as KeyValueJson[]) if (kv?.key === key) return valueText(kv.value);
  return undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A row test for the attribute conditions (span attributes, then its resource's), or null when there are none. */
export function attributeMatcher(conditions: readonly AttributeCondition[]): ((attributes: string, resource: string) => boolean) | null {
  if (conditions.length === 0) return null;
  const tests = conditions.map((c) => {
    const quoted = JSON.stringify(c.key);
    const regex = c.op === 'regex' ? new RegExp(c.value!) : null;
    const holds = (v: string | undefined): boolean =>
      c.op === 'exists' ? v !== undefined : c.op === 'eq' ? v === c.value : c.op === 'neq' ? v !== c.value : v !== undefined && regex!.test(v);
    return { quoted, key: c.key, holds };
  });
  return (attributes, resource) => {
    // Texts are parsed only when the key appears in them at all.
    let spanAttrs: unknown = null;
    let resourceAttrs: unknown = null;
    for (const t of tests) {
      let v: string | undefined;
      if (attributes.includes(t.quoted)) v = lookup((spanAttrs ??= parse(attributes)), t.key);
      if (v === undefined && resource.includes(t.quoted)) v = lookup((resourceAttrs ??= (parse(resource) as { attributes?: unknown } | undefined)?.attributes), t.key);
      if (!t.holds(v)) return false;
    }
    return true;
  };
}

/**
 * Datadog APM stats from committed spans, aggregated as the Agent's stats concentrator does
 * (DataDog/datadog-agent `pkg/trace/stats/concentrator.go`, `statsraw.go`, `aggregation.go`):
 *
 * - 10 s buckets by span END time (start + duration, aligned down to 10 s);
 * - per payload key (hostname, env, version, container id: the Agent's PayloadAggregationKey, read
 *   from the resource as the exporter reads it) and per group key (service, name, resource, type, HTTP
 *   status code, span kind, synthetics, is-trace-root);
 * - hits, errors, top-level hits and duration sum weighted by 1 / `_sample_rate` (rounded at export),
 *   and ok / error latency DDSketches (unweighted, as the Agent adds them);
 * - which spans count: top-level, `_dd.measured`, and every span of kind server, consumer, client or
 *   producer — the Agent's `compute_stats_by_span_kind` (on by default since Agent 7.55) which we follow.
 *   Top-level is decided as the Agent's OTLP ingest does with `enable_otlp_compute_top_level_by_span_kind`
 *   (its default): a root span, or a span of kind server or consumer. This needs nothing but the span
 *   itself, which matters here: a committed batch may hold part of a trace.
 *
 * Service, name, resource, type, error and HTTP status are those of `mapRequest` — the exporter's own
 * mapping — so stats and the traces Datadog receives agree. Not aggregated (yet): peer tags, gRPC
 * status code, HTTP method/endpoint (newer Agents' extra group keys).
 */
import { columnsToRequest } from '../../../otlp/from-columns.ts';
import type { WriteSpanColumns } from '../../../lake/span-schema.ts';
import { MsgpackWriter } from '../msgpack.ts';
import { mapRequest, type DdSpan, type MappedRequest } from '../mapping.ts';
import { DurationSketch } from './ddsketch.ts';

/** The Agent's bucket size. */
export const BUCKET_NS = 10_000_000_000n;

/** pb.Trilean of ClientGroupedStats.IsTraceRoot. */
const TRUE = 1;
const FALSE = 2;
const REMOTE_KINDS = new Set(['server', 'consumer', 'client', 'producer']);

export interface PayloadKey {
  hostname: string;
  env: string;
  version: string;
  containerId: string;
}

export interface GroupStats {
  service: string;
  name: string;
  resource: string;
  type: string;
  httpStatusCode: number;
  spanKind: string;
  synthetics: boolean;
  isTraceRoot: number;
  hits: number;
  errors: number;
  topLevelHits: number;
  duration: number;
  okSummary: DurationSketch;
  errorSummary: DurationSketch;
}

/** The closed buckets of one payload key, ready to encode. */
export interface StatsPayloadData {
  key: PayloadKey;
  buckets: { start: bigint; groups: GroupStats[] }[];
}

export interface AddResult {
  counted: number;
  notEligible: number;
}

interface PayloadState {
  key: PayloadKey;
  buckets: Map<bigint, Map<string, GroupStats>>;
}

export class StatsConcentrator {
  readonly #payloads = new Map<string, PayloadState>();

  /** Adds a committed batch; throws when its rows cannot be mapped (nothing of it is then added). */
  addColumns(batch: WriteSpanColumns): AddResult {
    if (batch.length === 0) return { counted: 0, notEligible: 0 };
    return this.addMapped(mapRequest(columnsToRequest(batch)));
  }

  addMapped(mapped: MappedRequest): AddResult {
    let counted = 0;
    let notEligible = 0;
    for (const g of mapped.groups) {
      const key: PayloadKey = { hostname: g.hostname, env: g.env, version: g.appVersion, containerId: g.containerId };
      const pk = `${key.hostname}\0${key.env}\0${key.version}\0${key.containerId}`;
      let state = this.#payloads.get(pk);
      if (state === undefined) this.#payloads.set(pk, (state = { key, buckets: new Map() }));
      for (const trace of g.traces) {
        for (const span of trace.spans) {
          if (this.#add(state, span)) counted++;
          else notEligible++;
        }
      }
    }
    return { counted, notEligible };
  }

  /** Whether nothing is waiting to be flushed. */
  get empty(): boolean {
    return this.#payloads.size === 0;
  }

  /**
   * Removes and returns the buckets that ended at or before `cutoffNs` (all of them when null). A span
   * committed later into a bucket already taken opens it again: it goes out in a later payload with
   * the same bucket start, which Datadog adds to the first.
   */
  takeClosed(cutoffNs: bigint | null): StatsPayloadData[] {
    const out: StatsPayloadData[] = [];
    for (const [pk, state] of this.#payloads) {
      const buckets: StatsPayloadData['buckets'] = [];
      for (const [start, groups] of state.buckets) {
        if (cutoffNs !== null && start + BUCKET_NS > cutoffNs) continue;
        buckets.push({ start, groups: [...groups.values()] });
        state.buckets.delete(start);
      }
      if (state.buckets.size === 0) this.#payloads.delete(pk);
      if (buckets.length > 0) out.push({ key: state.key, buckets: buckets.sort((a, b) => (a.start < b.start ? -1 : 1)) });
    }
    return out;
  }

  #add(state: PayloadState, s: DdSpan): boolean {
    const kind = s.meta.get('span.kind') ?? '';
    const root = s.parentId === 0n;
    const topLevel = root || kind === 'server' || kind === 'consumer';
    const measured = s.metrics.get('_dd.measured') === 1 || s.meta.get('_dd.measured') === '1';
    if (!topLevel && !measured && !REMOTE_KINDS.has(kind)) return false;
    const httpStatusCode = statusCodeOf(s);
    const synthetics = (s.meta.get('_dd.origin') ?? '').startsWith('synthetics');
    const isTraceRoot = root ? TRUE : FALSE;
    const end = s.start + s.duration;
    const bucket = end - (((end % BUCKET_NS) + BUCKET_NS) % BUCKET_NS);
    let groups = state.buckets.get(bucket);
    if (groups === undefined) state.buckets.set(bucket, (groups = new Map<string, GroupStats>()));
    const gk = `${s.service}\0${s.name}\0${s.resource}\0${s.type}\0${httpStatusCode}\0${kind}\0${synthetics ? 1 : 0}\0${isTraceRoot}`;
    let g = groups.get(gk);
    if (g === undefined) {
      g = {
        service: s.service,
        name: s.name,
        resource: s.resource,
        type: s.type,
        httpStatusCode,
        spanKind: kind,
        synthetics,
        isTraceRoot,
        hits: 0,
        errors: 0,
        topLevelHits: 0,
        duration: 0,
        okSummary: new DurationSketch(),
        errorSummary: new DurationSketch(),
      };
      groups.set(gk, g);
    }
    const weight = weightOf(s);
    const duration = Number(s.duration);
    g.hits += weight;
    if (topLevel) g.topLevelHits += weight;
    g.duration += duration * weight;
    if (s.error !== 0) {
      g.errors += weight;
      g.errorSummary.add(duration);
    } else {
      g.okSummary.add(duration);
    }
    return true;
  }
}

/** The span's stats weight (traceutil.Weight): 1 / `_sample_rate` when that is in (0, 1]. */
function weightOf(s: DdSpan): number {
  const rate = s.metrics.get('_sample_rate');
  return rate !== undefined && rate > 0 && rate <= 1 ? 1 / rate : 1;
}

function statusCodeOf(s: DdSpan): number {
  const m = s.metrics.get('http.status_code');
  if (m !== undefined && Number.isInteger(m) && m >= 0 && m <= 0xffffffff) return m;
  const t = s.meta.get('http.status_code');
  if (t !== undefined && /^\d{1,9}$/.test(t)) return Number(t);
  return 0;
}

export interface PayloadMeta {
  lang: string;
  tracerVersion: string;
  runtimeId: string;
  sequence: number;
}

/** A ClientStatsPayload as msgpack (`pkg/proto/datadog/trace/stats.proto`, the Agent's `/v0.6/stats`). */
export function encodeStatsPayload(p: StatsPayloadData, meta: PayloadMeta): Uint8Array {
  const w = new MsgpackWriter(4096);
  w.mapHeader(9);
  w.str('Hostname').str(p.key.hostname);
  w.str('Env').str(p.key.env);
  w.str('Version').str(p.key.version);
  w.str('ContainerID').str(p.key.containerId);
  w.str('Lang').str(meta.lang);
  w.str('TracerVersion').str(meta.tracerVersion);
  w.str('RuntimeID').str(meta.runtimeId);
  w.str('Sequence').int(meta.sequence);
  w.str('Stats').arrayHeader(p.buckets.length);
  for (const b of p.buckets) {
    w.mapHeader(4);
    w.str('Start').int(b.start);
    w.str('Duration').int(BUCKET_NS);
    w.str('AgentTimeShift').int(0);
    w.str('Stats').arrayHeader(b.groups.length);
    for (const g of b.groups) {
      w.mapHeader(16);
      w.str('Service').str(g.service);
      w.str('Name').str(g.name);
      w.str('Resource').str(g.resource);
      w.str('HTTPStatusCode').int(g.httpStatusCode);
      w.str('Type').str(g.type);
      w.str('DBType').str('');
      w.str('Hits').int(Math.round(g.hits));
      w.str('Errors').int(Math.round(g.errors));
      w.str('Duration').int(BigInt(Math.round(g.duration)));
      w.str('OkSummary').bin(g.okSummary.encode());
      w.str('ErrorSummary').bin(g.errorSummary.encode());
      w.str('Synthetics').bool(g.synthetics);
      w.str('TopLevelHits').int(Math.round(g.topLevelHits));
      w.str('SpanKind').str(g.spanKind);
      w.str('PeerTags').arrayHeader(0);
      w.str('IsTraceRoot').int(g.isTraceRoot);
    }
  }
  return w.finish();
}

/**
 * Mapped spans → request bodies: the kept-trace marks on each chunk, then payloads of at most
 * `max_request_bytes`, split between traces when possible and inside a trace only when one trace
 * alone is bigger. Each span is encoded once; its size decides where a payload ends.
 */
import { encodeAgentPayload, encodeSpanProto, type ChunkInput, type TracerPayloadInput } from './agent-payload.ts';
import type { DdResourceGroup, DdSpan, DdTrace, MappedRequest } from './mapping.ts';
import { MsgpackWriter, arrayHeaderBytes, writeSpanMsgpack } from './msgpack.ts';

/** `_sampling_priority_v1`: 2 = USER_KEEP, a sampling rule or user decided to keep the trace. */
export const PRIORITY_KEY = '_sampling_priority_v1';
export const USER_KEEP = 2;
/** `_dd.p.dm`, the decision maker: "-" + mechanism; 4 = manual (a user's decision, as the Agent marks user priorities). */
export const DECISION_MAKER_KEY = '_dd.p.dm';
export const DECISION_MAKER = '-4';

/** One request body and what it holds. */
export interface Payload {
  body: Uint8Array;
  spans: number;
  traces: number;
}

/**
 * Marks a chunk as kept by a user decision where the Agent looks for it: priority 2 and decision maker
 * -4 on its root (the first span whose parent is not in the chunk).
 */
export function markKept(spans: readonly DdSpan[]): void {
  const root = spans[chunkRootIndex(spans)];
  if (root === undefined) return;
  root.metrics.set(PRIORITY_KEY, USER_KEEP);
  root.meta.set(DECISION_MAKER_KEY, DECISION_MAKER);
}

export function chunkRootIndex(spans: readonly DdSpan[]): number {
  const ids = new Set<bigint>();
  for (const s of spans) ids.add(s.spanId);
  for (let i = 0; i < spans.length; i++) {
    const p = spans[i]!.parentId;
    if (p === 0n || !ids.has(p)) return i;
  }
  return 0;
}

/**
 * traceutil.ComputeTopLevel, which the Agent runs before sending: `_top_level: 1` on spans whose parent
 * is not in the chunk or belongs to another service. Only agentless needs it; the Agent does it itself.
 */
export function computeTopLevel(spans: readonly DdSpan[]): void {
  const services = new Map<bigint, string>();
  for (const s of spans) services.set(s.spanId, s.service);
  for (const s of spans) {
    const parent = s.parentId === 0n ? undefined : services.get(s.parentId);
    if (parent === undefined || parent !== s.service) s.metrics.set('_top_level', 1);
  }
}

/** A trace (or piece of one) with its spans' encodings, and the resource group it came from. */
interface Unit {
  group: number;
  trace: DdTrace;
  encoded: Uint8Array[];
  bytes: number;
}

interface Overheads {
  /** Bytes of a payload around its traces. */
  payload: number;
  /** Per trace chunk, besides its spans. */
  unit: number;
  /** Per span, besides its encoding. */
  span: number;
}

/** v0.4 bodies for the Agent: one msgpack array of traces per payload. Spans of a trace from several resources form one chunk. */
export function buildV04Payloads(mapped: MappedRequest, maxBytes: number): Payload[] {
  const merged = new Map<string, DdTrace>();
  for (const g of mapped.groups) {
    for (const t of g.traces) {
      const m = merged.get(t.id);
      if (m === undefined) merged.set(t.id, { id: t.id, spans: [...t.spans] });
      else m.spans.push(...t.spans);
    }
  }
  const traces = [...merged.values()];
  for (const t of traces) markKept(t.spans);
  const w = new MsgpackWriter();
  const encode = (span: DdSpan): Uint8Array => {
    w.reset();
    writeSpanMsgpack(w, span);
    return w.finish();
  };
  const units = encodeUnits(traces.map((trace) => ({ group: 0, trace })), encode);
  const batches = pack(units, maxBytes, { payload: 5, unit: 5, span: 0 }, encode);
  return batches.map((batch) => {
    const out = new MsgpackWriter(batch.reduce((n, u) => n + u.bytes + 5, 5));
    out.arrayHeader(batch.length);
    let spans = 0;
    for (const u of batch) {
      out.arrayHeader(u.encoded.length);
      for (const e of u.encoded) out.raw(e);
      spans += u.encoded.length;
    }
    return { body: out.view(), spans, traces: batch.length };
  });
}

export interface AgentlessHeader {
  hostName: string;
  agentVersion: string;
}

/** AgentPayload bodies for the intake (before gzip): one TracerPayload per resource, one chunk per trace in it. */
export function buildAgentPayloads(mapped: MappedRequest, maxBytes: number, header: AgentlessHeader): Payload[] {
  const inputs: { group: number; trace: DdTrace }[] = [];
  mapped.groups.forEach((g, group) => {
    for (const trace of g.traces) {
      markKept(trace.spans);
      computeTopLevel(trace.spans);
      inputs.push({ group, trace });
    }
  });
  const units = encodeUnits(inputs, encodeSpanProto);
  const groupBytes = (g: DdResourceGroup): number =>
    32 + g.containerId.length + g.languageName.length + g.tracerVersion.length + g.env.length + g.hostname.length + g.appVersion.length;
  const perGroup = Math.max(0, ...mapped.groups.map(groupBytes));
  const batches = pack(units, maxBytes, { payload: 64 + header.hostName.length + header.agentVersion.length, unit: 32 + perGroup, span: 6 }, encodeSpanProto);
  return batches.map((batch) => {
    const byGroup = new Map<number, ChunkInput[]>();
    let spans = 0;
    for (const u of batch) {
      let chunks = byGroup.get(u.group);
      if (chunks === undefined) byGroup.set(u.group, (chunks = []));
      chunks.push({ priority: USER_KEEP, tags: new Map([[DECISION_MAKER_KEY, DECISION_MAKER]]), spans: u.encoded });
      spans += u.encoded.length;
    }
    const tracerPayloads: TracerPayloadInput[] = [...byGroup].map(([group, chunks]) => {
      const g = mapped.groups[group]!;
      return { containerId: g.containerId, languageName: g.languageName, tracerVersion: g.tracerVersion, env: g.env, hostname: g.hostname, appVersion: g.appVersion, chunks };
    });
    const body = encodeAgentPayload({ hostName: header.hostName, env: '', agentVersion: header.agentVersion, tracerPayloads });
    return { body, spans, traces: batch.length };
  });
}

function encodeUnits(inputs: readonly { group: number; trace: DdTrace }[], encode: (s: DdSpan) => Uint8Array): Unit[] {
  return inputs.map(({ group, trace }) => {
    const encoded = trace.spans.map(encode);
    return { group, trace, encoded, bytes: encoded.reduce((n, e) => n + e.length, 0) };
  });
}

/**
 * Groups units into payloads of at most `maxBytes` (estimated with `o`), in order. A unit too big for
 * any payload is cut between spans; each later piece's first span is marked kept too (re-encoded),
 * since the Agent reads a chunk's priority from its own spans.
 */
function pack(units: readonly Unit[], maxBytes: number, o: Overheads, reencode: (s: DdSpan) => Uint8Array): Unit[][] {
  const batches: Unit[][] = [];
  let current: Unit[] = [];
  let size = o.payload;
  const sizeOf = (u: Unit): number => u.bytes + o.unit + arrayHeaderBytes(u.encoded.length) + o.span * u.encoded.length;
  const flush = (): void => {
    if (current.length > 0) batches.push(current);
    current = [];
    size = o.payload;
  };
  for (const unit of units) {
    const pieces = o.payload + sizeOf(unit) <= maxBytes ? [unit] : cut(unit, maxBytes - o.payload - o.unit - CUT_SLACK, o.span, reencode);
    for (const piece of pieces) {
      const n = sizeOf(piece);
      if (current.length > 0 && size + n > maxBytes) flush();
      current.push(piece);
      size += n;
    }
  }
  flush();
  return batches;
}

/** Room kept in a piece for the marks its first span gets (and the array header). */
const CUT_SLACK = 64;

function cut(unit: Unit, room: number, perSpan: number, reencode: (s: DdSpan) => Uint8Array): Unit[] {
  const pieces: Unit[] = [];
  let from = 0;
  while (from < unit.encoded.length) {
    let to = from;
    let bytes = 0;
    // At least one span per piece, even one bigger than the limit on its own.
    do {
      bytes += unit.encoded[to]!.length + perSpan;
      to++;
    } while (to < unit.encoded.length && bytes + unit.encoded[to]!.length + perSpan <= room);
    const spans = unit.trace.spans.slice(from, to);
    const encoded = unit.encoded.slice(from, to);
    if (from > 0) {
      markKept([spans[0]!]);
      encoded[0] = reencode(spans[0]!);
    }
    pieces.push({ group: unit.group, trace: { id: unit.trace.id, spans }, encoded, bytes: encoded.reduce((n, e) => n + e.length, 0) });
    from = to;
  }
  return pieces;
}

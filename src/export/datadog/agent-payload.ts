/**
 * The protobuf the Agent sends to Datadog's trace intake (`/api/v0.2/traces`): an AgentPayload of
 * TracerPayloads of TraceChunks of Spans (DataDog/datadog-agent `pkg/proto/datadog/trace/
 * {agent_payload,tracer_payload,span}.proto`; field numbers below). Written by hand with protobufjs'
 * Writer so that each span is encoded once, on its own (its size decides how requests are split), and
 * then copied into its chunk as an embedded message.
 */
import Long from 'long';
import protobuf from 'protobufjs/minimal.js';
import type { DdSpan } from './mapping.ts';

type Writer = protobuf.Writer;

/** Field tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited). */
const Tag = {
  // Span
  Service: (1 << 3) | 2,
  Name: (2 << 3) | 2,
  Resource: (3 << 3) | 2,
  TraceId: (4 << 3) | 0,
  SpanId: (5 << 3) | 0,
  ParentId: (6 << 3) | 0,
  Start: (7 << 3) | 0,
  Duration: (8 << 3) | 0,
  Error: (9 << 3) | 0,
  Meta: (10 << 3) | 2,
  Metrics: (11 << 3) | 2,
  Type: (12 << 3) | 2,
  // map entries
  EntryKey: (1 << 3) | 2,
  EntryString: (2 << 3) | 2,
  EntryDouble: (2 << 3) | 1,
  // TraceChunk
  ChunkPriority: (1 << 3) | 0,
  ChunkOrigin: (2 << 3) | 2,
  ChunkSpans: (3 << 3) | 2,
  ChunkTags: (4 << 3) | 2,
  // TracerPayload
  TpContainerId: (1 << 3) | 2,
  TpLanguageName: (2 << 3) | 2,
  TpLanguageVersion: (3 << 3) | 2,
  TpTracerVersion: (4 << 3) | 2,
  TpChunks: (6 << 3) | 2,
  TpTags: (7 << 3) | 2,
  TpEnv: (8 << 3) | 2,
  TpHostname: (9 << 3) | 2,
  TpAppVersion: (10 << 3) | 2,
  // AgentPayload
  ApHostName: (1 << 3) | 2,
  ApEnv: (2 << 3) | 2,
  ApTracerPayloads: (5 << 3) | 2,
  ApTags: (6 << 3) | 2,
  ApAgentVersion: (7 << 3) | 2,
} as const;

/** One Span message (proto3: zero values are left out). */
export function encodeSpanProto(s: DdSpan): Uint8Array {
  const w = protobuf.Writer.create();
  str(w, Tag.Service, s.service);
  str(w, Tag.Name, s.name);
  str(w, Tag.Resource, s.resource);
  if (s.traceId !== 0n) w.uint32(Tag.TraceId).uint64(long(s.traceId, true));
  if (s.spanId !== 0n) w.uint32(Tag.SpanId).uint64(long(s.spanId, true));
  if (s.parentId !== 0n) w.uint32(Tag.ParentId).uint64(long(s.parentId, true));
  if (s.start !== 0n) w.uint32(Tag.Start).int64(long(s.start, false));
  if (s.duration !== 0n) w.uint32(Tag.Duration).int64(long(s.duration, false));
  if (s.error !== 0) w.uint32(Tag.Error).int32(s.error);
  stringMap(w, Tag.Meta, s.meta);
  for (const [k, v] of s.metrics) {
    w.uint32(Tag.Metrics).fork().uint32(Tag.EntryKey).string(k).uint32(Tag.EntryDouble).double(v).ldelim();
  }
  str(w, Tag.Type, s.type);
  return w.finish();
}

export interface ChunkInput {
  priority: number;
  tags: ReadonlyMap<string, string>;
  /** Span messages, each from encodeSpanProto. */
  spans: readonly Uint8Array[];
}

export interface TracerPayloadInput {
  containerId: string;
  languageName: string;
  tracerVersion: string;
  env: string;
  hostname: string;
  appVersion: string;
  chunks: readonly ChunkInput[];
}

export interface AgentPayloadInput {
  hostName: string;
  env: string;
  agentVersion: string;
  tracerPayloads: readonly TracerPayloadInput[];
}

export function encodeAgentPayload(p: AgentPayloadInput): Uint8Array {
  const w = protobuf.Writer.create();
  str(w, Tag.ApHostName, p.hostName);
  str(w, Tag.ApEnv, p.env);
  for (const tp of p.tracerPayloads) {
    w.uint32(Tag.ApTracerPayloads).fork();
    str(w, Tag.TpContainerId, tp.containerId);
    str(w, Tag.TpLanguageName, tp.languageName);
    str(w, Tag.TpTracerVersion, tp.tracerVersion);
    for (const c of tp.chunks) {
      w.uint32(Tag.TpChunks).fork();
      if (c.priority !== 0) w.uint32(Tag.ChunkPriority).int32(c.priority);
      for (const span of c.spans) w.uint32(Tag.ChunkSpans).bytes(span);
      stringMap(w, Tag.ChunkTags, c.tags);
      w.ldelim();
    }
    str(w, Tag.TpEnv, tp.env);
    str(w, Tag.TpHostname, tp.hostname);
    str(w, Tag.TpAppVersion, tp.appVersion);
    w.ldelim();
  }
  str(w, Tag.ApAgentVersion, p.agentVersion);
  return w.finish();
}

function str(w: Writer, tag: number, s: string): void {
  if (s !== '') w.uint32(tag).string(s);
}

function stringMap(w: Writer, tag: number, m: ReadonlyMap<string, string>): void {
  for (const [k, v] of m) w.uint32(tag).fork().uint32(Tag.EntryKey).string(k).uint32(Tag.EntryString).string(v).ldelim();
}

function long(v: bigint, unsigned: boolean): Long {
  return Long.fromBits(Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn), unsigned);
}

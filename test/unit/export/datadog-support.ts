/**
 * Independent readers of what the Datadog exporter sends: v0.4 msgpack through @msgpack/msgpack, the
 * intake's AgentPayload through protobufjs from a .proto transcribed from the Agent's, each into plain
 * typed objects for the tests.
 */
import { readFileSync } from 'node:fs';
import { decode } from '@msgpack/msgpack';
import protobuf from 'protobufjs';

/** A v0.4 span map as decoded: 64-bit integers as BigInt when written in 64 bits, else numbers. */
export interface V04Span {
  service: string;
  name: string;
  resource: string;
  type: string;
  trace_id: number | bigint;
  span_id: number | bigint;
  parent_id: number | bigint;
  start: number | bigint;
  duration: number | bigint;
  error: number;
  meta: Record<string, string>;
  metrics: Record<string, number>;
}

export function decodeV04(body: Uint8Array): V04Span[][] {
  return decode(body, { useBigInt64: true }) as V04Span[][];
}

/** AgentPayload as protobufjs' toObject gives it: 64-bit integers as decimal strings, absent zero values. */
export interface PbSpan {
  service?: string;
  name?: string;
  resource?: string;
  type?: string;
  traceID?: string;
  spanID?: string;
  parentID?: string;
  start?: string;
  duration?: string;
  error?: number;
  meta?: Record<string, string>;
  metrics?: Record<string, number>;
}

export interface PbChunk {
  priority?: number;
  tags?: Record<string, string>;
  spans: PbSpan[];
}

export interface PbTracerPayload {
  containerID?: string;
  languageName?: string;
  tracerVersion?: string;
  env?: string;
  hostname?: string;
  appVersion?: string;
  chunks: PbChunk[];
}

export interface PbAgentPayload {
  hostName?: string;
  env?: string;
  agentVersion?: string;
  tracerPayloads: PbTracerPayload[];
}

const root = protobuf.parse(readFileSync(new URL('../../fixtures/datadog/agent-payload.proto', import.meta.url), 'utf8'), { keepCase: true }).root;
const AgentPayload = root.lookupType('datadog.trace.AgentPayload');
const Span = root.lookupType('datadog.trace.Span');

const OPTIONS: protobuf.IConversionOptions = { longs: String, arrays: true };

export function decodeAgentPayload(bytes: Uint8Array): PbAgentPayload {
  return AgentPayload.toObject(AgentPayload.decode(bytes), OPTIONS) as PbAgentPayload;
}

export function decodeSpanProto(bytes: Uint8Array): PbSpan {
  return Span.toObject(Span.decode(bytes), { longs: String });
}

/**
 * The two wire formats, decoded back with independent readers: v0.4 msgpack with @msgpack/msgpack,
 * the intake's AgentPayload with protobufjs from a .proto transcribed from the Agent's. Also the
 * kept-trace marks on chunk roots and how requests are cut at max_request_bytes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from '@msgpack/msgpack';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { encodeSpanProto } from '../../../src/export/datadog/agent-payload.ts';
import { mapRequest, type DdSpan, type MappedRequest } from '../../../src/export/datadog/mapping.ts';
import { MsgpackWriter, msgpackArrayLength, writeSpanMsgpack } from '../../../src/export/datadog/msgpack.ts';
import { buildAgentPayloads, buildV04Payloads, chunkRootIndex, computeTopLevel } from '../../../src/export/datadog/payloads.ts';
import { hex, u64 } from '../../fixtures/otlp/requests.ts';
import { decodeAgentPayload, decodeSpanProto, decodeV04, type PbTracerPayload } from './datadog-support.ts';

const { ExportTraceServiceRequest } = opentelemetry.proto.collector.trace.v1;
type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;

function ddSpan(p: Partial<DdSpan> = {}): DdSpan {
  return {
    service: 'svc',
    name: 'op',
    resource: 'res',
    type: 'web',
    traceId: 0xfedcba9876543210n,
    spanId: 0xffffffffffffffffn,
    parentId: 0x8000000000000000n,
    start: 1764620000123456789n,
    duration: 9007199254740993n,
    error: 1,
    meta: new Map([['k', 'v'], ['ünï', 'çødé ✓']]),
    metrics: new Map([['m', 1.5], ['int', 42], ['neg', -3]]),
    ...p,
  };
}

/** A request of `traces` traces of `spans` spans each, parents chained, one resource. */
function request(traces: number, spans: number, attrBytes = 0): Uint8Array {
  const all: SpanProps[] = [];
  for (let t = 0; t < traces; t++) {
    const traceId = Buffer.alloc(16, t + 1);
    for (let i = 0; i < spans; i++) {
      all.push({
        traceId,
        spanId: Buffer.from([t + 1, 0, 0, 0, 0, 0, 0, i + 1]),
        parentSpanId: i === 0 ? new Uint8Array(0) : Buffer.from([t + 1, 0, 0, 0, 0, 0, 0, i]),
        name: `s${i}`,
        kind: i === 0 ? 2 : 1,
        startTimeUnixNano: u64('1764620000123456789'),
        endTimeUnixNano: u64('1764620000223456789'),
        attributes: attrBytes > 0 ? [{ key: 'blob', value: { stringValue: 'x'.repeat(attrBytes) } }] : [],
      });
    }
  }
  return ExportTraceServiceRequest.encode({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeSpans: [{ scope: { name: 'lib' }, spans: all }] }],
  }).finish();
}

describe('v0.4 msgpack', () => {
  it('a span map decodes back with exact uint64 ids, int64 times, float64 metrics, UTF-8 strings', () => {
    const w = new MsgpackWriter(16);
    writeSpanMsgpack(w, ddSpan());
    const s = decodeV04(Uint8Array.of(0x91, 0x91, ...w.finish()))[0]![0]!;
    assert.deepEqual(Object.keys(s), ['service', 'name', 'resource', 'trace_id', 'span_id', 'parent_id', 'start', 'duration', 'error', 'meta', 'metrics', 'type']);
    assert.equal(s.trace_id, 0xfedcba9876543210n);
    assert.equal(s.span_id, 0xffffffffffffffffn);
    assert.equal(s.parent_id, 0x8000000000000000n);
    assert.equal(s.start, 1764620000123456789n);
    assert.equal(s.duration, 9007199254740993n);
    assert.equal(s.error, 1);
    assert.deepEqual(s.meta, { k: 'v', ünï: 'çødé ✓' });
    assert.deepEqual(s.metrics, { m: 1.5, int: 42, neg: -3 });
    assert.equal(s.type, 'web');
  });

  it('metrics are always float64 (0xcb), as Go writes float64', () => {
    const w = new MsgpackWriter();
    w.float64(42);
    assert.deepEqual([...w.finish()], [0xcb, 0x40, 0x45, 0, 0, 0, 0, 0, 0]);
  });

  it('integers in their smallest form at every boundary, strings and headers of every length class', () => {
    const ints = [0n, 127n, 128n, 255n, 256n, 65535n, 65536n, 4294967295n, 4294967296n, 2n ** 64n - 1n, -1n, -32n, -33n, -128n, -129n, -32768n, -32769n, -2147483648n, -2147483649n, -(2n ** 63n)];
    const strs = ['', 'a'.repeat(31), 'a'.repeat(32), 'a'.repeat(255), 'a'.repeat(256), 'a'.repeat(65535), 'a'.repeat(65536), 'é'.repeat(20)];
    const w = new MsgpackWriter(8);
    w.arrayHeader(ints.length + strs.length + 3);
    for (const i of ints) w.int(i);
    for (const s of strs) w.str(s);
    w.int(5).int(-7).int(2 ** 40);
    const back = decode(w.finish(), { useBigInt64: true }) as unknown[];
    // The decoder gives a BigInt for what was written in 64 bits, a number otherwise: both are exact.
    assert.deepEqual(back.slice(0, ints.length).map((v) => BigInt(v as number | bigint)), ints);
    assert.deepEqual(back.slice(ints.length, ints.length + strs.length).map((v) => (v as string).length), strs.map((x) => x.length));
    assert.equal(back[ints.length + strs.length - 1], 'é'.repeat(20));
    assert.deepEqual(back.slice(-3).map((v) => BigInt(v as number | bigint)), [5n, -7n, 2n ** 40n]);
    const sizes = ints.map((i) => new MsgpackWriter().int(i).length);
    assert.deepEqual(sizes, [1, 1, 2, 2, 3, 3, 5, 5, 9, 9, 1, 1, 2, 2, 3, 3, 5, 5, 9, 9], 'smallest form');
    for (const n of [0, 15, 16, 65535, 65536]) {
      const h = new MsgpackWriter().arrayHeader(n).finish();
      assert.equal(msgpackArrayLength(h), n, `array header ${n}`);
      const m = new MsgpackWriter().mapHeader(n).finish();
      assert.equal(m.length, h.length);
    }
    assert.equal(msgpackArrayLength(Uint8Array.of(0x80)), null, 'a map is no trace array');
    assert.equal(msgpackArrayLength(new Uint8Array(0)), null);
    assert.throws(() => new MsgpackWriter().int(2n ** 64n), RangeError);
  });

  it('a payload is an array of traces of span maps; the trace count header reads its length', () => {
    const mapped = mapRequest(request(3, 4));
    const [p] = buildV04Payloads(mapped, 3_200_000);
    assert.equal(p!.traces, 3);
    assert.equal(p!.spans, 12);
    assert.equal(msgpackArrayLength(p!.body), 3);
    const traces = decodeV04(p!.body);
    assert.deepEqual(traces.map((t) => t.length), [4, 4, 4]);
    for (const t of traces) {
      const roots = t.filter((s) => s.metrics._sampling_priority_v1 !== undefined);
      assert.equal(roots.length, 1, 'the priority is on the chunk root only');
      assert.equal(roots[0]!.parent_id, 0);
      assert.equal(roots[0]!.metrics._sampling_priority_v1, 2);
      assert.equal(roots[0]!.meta['_dd.p.dm'], '-4');
      assert.equal(t.filter((s) => s.meta['_dd.p.dm'] !== undefined).length, 1);
      assert.equal(new Set(t.map((s) => s.trace_id)).size, 1);
      assert.ok(t.every((s) => s.metrics._top_level === undefined), 'the Agent computes top-level spans itself');
    }
  });

  it('spans of one trace from several resources are one chunk', () => {
    const traceId = hex('0af7651916cd43dd8448eb211c80319c');
    const body = ExportTraceServiceRequest.encode({
      resourceSpans: ['a', 'b'].map((svc, i) => ({
        resource: { attributes: [{ key: 'service.name', value: { stringValue: svc } }] },
        scopeSpans: [{ spans: [{ traceId, spanId: Buffer.alloc(8, i + 1), parentSpanId: i === 0 ? undefined : Buffer.alloc(8, 1), name: svc }] }],
      })),
    }).finish();
    const traces = decodeV04(buildV04Payloads(mapRequest(body), 3_200_000)[0]!.body);
    assert.equal(traces.length, 1);
    assert.deepEqual(traces[0]!.map((s) => s.service), ['a', 'b']);
  });

  it('is cut at max_request_bytes between traces, and inside a trace bigger than the limit; every span once, every piece marked', () => {
    const max = 4000;
    const mapped = mapRequest(request(5, 10, 100));
    const payloads = buildV04Payloads(mapped, max);
    assert.ok(payloads.length > 5, `cut into ${payloads.length}`);
    const seen: bigint[] = [];
    for (const p of payloads) {
      assert.ok(p.body.length <= max, `payload of ${p.body.length} bytes`);
      const traces = decodeV04(p.body);
      assert.equal(traces.length, p.traces);
      assert.equal(traces.flat().length, p.spans);
      for (const t of traces) {
        assert.equal(t.filter((s) => s.metrics._sampling_priority_v1 === 2 && s.meta['_dd.p.dm'] === '-4').length, 1, 'each chunk carries the decision once');
        for (const s of t) seen.push(BigInt(s.span_id));
      }
    }
    assert.equal(seen.length, 50);
    assert.equal(new Set(seen).size, 50);
  });

  it('a single span bigger than the limit still goes, alone', () => {
    const payloads = buildV04Payloads(mapRequest(request(1, 3, 5000)), 1000);
    assert.deepEqual(payloads.map((p) => p.spans), [1, 1, 1]);
  });

  it('an empty request makes no payload', () => {
    assert.deepEqual(buildV04Payloads({ groups: [], spanCount: 0 } satisfies MappedRequest, 1000), []);
  });
});

describe('chunk roots and top-level spans', () => {
  it('the root is the first span whose parent is not in the chunk', () => {
    const s = (id: bigint, parent: bigint): DdSpan => ddSpan({ spanId: id, parentId: parent });
    assert.equal(chunkRootIndex([s(2n, 1n), s(1n, 0n)]), 1);
    assert.equal(chunkRootIndex([s(3n, 2n), s(2n, 99n)]), 1, 'parent elsewhere: a local root');
    assert.equal(chunkRootIndex([s(1n, 2n), s(2n, 1n)]), 0, 'a cycle: the first span');
  });
  it('top level: no parent in the chunk, or a parent of another service', () => {
    const spans = [ddSpan({ spanId: 1n, parentId: 0n }), ddSpan({ spanId: 2n, parentId: 1n }), ddSpan({ spanId: 3n, parentId: 2n, service: 'db' }), ddSpan({ spanId: 4n, parentId: 77n })];
    for (const sp of spans) sp.metrics.clear();
    computeTopLevel(spans);
    assert.deepEqual(spans.map((sp) => sp.metrics.get('_top_level')), [1, undefined, 1, 1]);
  });
});

describe('AgentPayload (agentless)', () => {
  it('a span message decodes back field by field', () => {
    const s = decodeSpanProto(encodeSpanProto(ddSpan()));
    assert.deepEqual(s, {
      service: 'svc',
      name: 'op',
      resource: 'res',
      traceID: String(0xfedcba9876543210n),
      spanID: '18446744073709551615',
      parentID: String(0x8000000000000000n),
      start: '1764620000123456789',
      duration: '9007199254740993',
      error: 1,
      meta: { k: 'v', ünï: 'çødé ✓' },
      metrics: { m: 1.5, int: 42, neg: -3 },
      type: 'web',
    });
    const zero = decodeSpanProto(encodeSpanProto(ddSpan({ parentId: 0n, error: 0, meta: new Map(), metrics: new Map() })));
    assert.equal(zero.parentID, undefined, 'proto3 leaves zero values out');
    assert.equal(zero.error, undefined);
  });

  it('one TracerPayload per resource with its env, host, container, language and versions; one chunk per trace, priority 2 and _dd.p.dm -4', () => {
    const body = ExportTraceServiceRequest.encode({
      resourceSpans: [
        {
          resource: {
            attributes: [
              ['service.name', 'a'], ['host.name', 'web-1'], ['deployment.environment.name', 'prod'], ['container.id', 'abc'],
              ['telemetry.sdk.language', 'java'], ['telemetry.sdk.version', '1.40.0'], ['service.version', '7.1'],
            ].map(([key, v]) => ({ key, value: { stringValue: v } })),
          },
          scopeSpans: [{ spans: [1, 2].map((t) => ({ traceId: Buffer.alloc(16, t), spanId: Buffer.alloc(8, t), name: 'root', startTimeUnixNano: u64('1764620000123456789'), endTimeUnixNano: u64('1764620000123456799') })) }],
        },
        { resource: { attributes: [{ key: 'service.name', value: { stringValue: 'b' } }] }, scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 9), parentSpanId: Buffer.alloc(8, 1), name: 'child' }] }] },
      ],
    }).finish();
    const payloads = buildAgentPayloads(mapRequest(body), 3_200_000, { hostName: 'sampler-1', agentVersion: 'tailsampler-0.1.0' });
    assert.equal(payloads.length, 1);
    assert.equal(payloads[0]!.spans, 3);
    assert.equal(payloads[0]!.traces, 3);
    const p = decodeAgentPayload(payloads[0]!.body);
    assert.equal(p.hostName, 'sampler-1');
    assert.equal(p.agentVersion, 'tailsampler-0.1.0');
    assert.equal(p.tracerPayloads.length, 2);
    const [a, b] = p.tracerPayloads as [PbTracerPayload, PbTracerPayload];
    assert.deepEqual(
      { containerID: a.containerID, languageName: a.languageName, tracerVersion: a.tracerVersion, env: a.env, hostname: a.hostname, appVersion: a.appVersion },
      { containerID: 'abc', languageName: 'java', tracerVersion: 'otlp-1.40.0', env: 'prod', hostname: 'web-1', appVersion: '7.1' },
    );
    assert.equal(a.chunks.length, 2);
    for (const c of [...a.chunks, ...b.chunks]) {
      assert.equal(c.priority, 2);
      assert.deepEqual(c.tags, { '_dd.p.dm': '-4' });
      const root = c.spans[0]!;
      assert.equal(root.metrics?._sampling_priority_v1, 2);
      assert.equal(root.meta?.['_dd.p.dm'], '-4');
      assert.equal(root.metrics?._top_level, 1, 'agentless computes top-level spans, as the Agent would');
    }
    const first = a.chunks[0]!.spans[0]!;
    assert.equal(first.start, '1764620000123456789');
    assert.equal(first.duration, '10');
    const child = b.chunks[0]!.spans[0]!;
    assert.equal(child.service, 'b');
    assert.equal(child.parentID, String(0x0101010101010101n));
  });

  it('is cut at max_request_bytes too, every span once', () => {
    const payloads = buildAgentPayloads(mapRequest(request(4, 10, 200)), 3000, { hostName: 'h', agentVersion: 'v' });
    assert.ok(payloads.length > 4, `cut into ${payloads.length}`);
    let spans = 0;
    for (const p of payloads) {
      assert.ok(p.body.length <= 3000, `${p.body.length}`);
      const decoded = decodeAgentPayload(p.body);
      for (const tp of decoded.tracerPayloads) for (const c of tp.chunks) {
        spans += c.spans.length;
        assert.equal(c.priority, 2);
        assert.equal(c.spans.filter((s) => s.metrics?._sampling_priority_v1 === 2).length, 1);
      }
    }
    assert.equal(spans, 40);
  });
});


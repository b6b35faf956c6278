/**
 * A Kafka topic filled by the OpenTelemetry Collector's kafkaexporter (its own `otlp_proto` messages,
 * written by franz-go; kafkaexporter v0.160.0, see test/infra/otelcol/builder.yaml) gives the same
 * sampling decisions as the embedded path fed the same traces directly, and as the policies say.
 *
 * One real Collector writes a fresh topic through two pipelines: `partition_traces_by_id` with no
 * sending queue (one message per trace, scope and request, keyed by the hex trace id, so traces sent
 * span by span become single-span messages) and an unkeyed one with the exporter's queue batching
 * requests and snappy compression (messages holding many traces, a trace's parts possibly in several
 * partitions). A tailsampler with `spool.type: kafka` then consumes the topic; a second one with the
 * default local spool receives the same requests over OTLP. Each exports to its own capture Collector.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Admin, Consumer } from '@platformatic/kafka';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { kafkaSpoolSchema } from '../../../src/spool/kafka/config.ts';
import { partitionForKey } from '../../../src/spool/kafka/partitioner.ts';
import { infraEnv } from '../../support/infra.ts';
import { otelcolBinary, startOtelcol, type ReceivedTrace, type RunningOtelcol } from '../../support/otelcol.ts';
import { freePort, startService, waitFor, type ServiceProcess } from '../../support/service.ts';
import { canonical, makeTrace, toProtobuf, type TestResource, type TestSpan } from '../../support/traces.ts';

const TracesData = opentelemetry.proto.trace.v1.TracesData;

/** The partition count tailsampler gives a spool topic it creates; the Collector's topic gets the same. */
const PARTITIONS = kafkaSpoolSchema.parse({}).partitions;
const SLOW_MS = 2000;

const POLICIES = [
  { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
  { name: 'slow', type: 'latency', latency: { threshold_ms: SLOW_MS } },
];

// ---- the traces ---------------------------------------------------------------------------------

interface Fixture {
  /** Requests for the trace-id-partitioned pipeline and for the unkeyed, batching one, in sending order. */
  keyed: Uint8Array[];
  unkeyed: Uint8Array[];
  traces: TestSpan[][];
  /** What the policies decide: error or slow. */
  expectedKept: Set<string>;
  /** Traces whose halves are in the first and the last unkeyed request. */
  halves: string[];
}

const isError = (t: TestSpan[]) => t.some((s) => s.status?.code === 2);
const isSlow = (t: TestSpan[]) => {
  const start = t.reduce((m, s) => (s.startNs < m ? s.startNs : m), t[0]!.startNs);
  const end = t.reduce((m, s) => (s.endNs > m ? s.endNs : m), 0n);
  return end - start > BigInt(SLOW_MS) * 1_000_000n;
};

function res(service: string, spans: TestSpan[], scope = 'otelcol-kafka'): TestResource {
  return { service, extra: [['host.name', { s: `${service}-1` }]], schemaUrl: 'https://opentelemetry.io/schemas/1.26.0', scope: { name: scope, version: '1.0' }, spans };
}

/** Each trace's spans alternate between two resources, interleaved with the other traces'. */
function spread(traces: TestSpan[][]): TestResource[] {
  return [
    res('checkout', traces.flatMap((t) => t.filter((_, k) => k % 2 === 0))),
    res('payments', traces.flatMap((t) => t.filter((_, k) => k % 2 === 1)), 'grpc'),
  ];
}

function fixture(now: number): Fixture {
  const trace = (n: number, kind: 'error' | 'slow' | 'normal', rich = false) =>
    makeTrace({ n, startMs: now, durationMs: kind === 'slow' ? SLOW_MS + 500 : 20, error: kind === 'error', rich });
  const kinds = (pattern: ('error' | 'slow' | 'normal')[], n: number) => pattern.map((k) => trace(n, k));
  const keyed: Uint8Array[] = [];
  const unkeyed: Uint8Array[] = [];
  const traces: TestSpan[][] = [];

  // Trace-id partitioned pipeline: several traces per request, over two resources.
  const k1 = [trace(5, 'error', true), trace(4, 'normal'), trace(3, 'slow'), trace(2, 'normal')];
  const k2 = kinds(['normal', 'normal', 'error', 'normal', 'slow', 'normal', 'normal', 'normal', 'error', 'normal', 'normal', 'normal'], 3);
  const k3 = kinds(['normal', 'slow', 'normal', 'normal', 'error', 'normal', 'normal', 'normal'], 4);
  // Sent span by span (single-span messages), the deciding span last or first, mixed with whole traces.
  const splitError = trace(6, 'error');
  const splitSlow = trace(4, 'slow');
  const splitNormal = trace(3, 'normal');
  const splitError2 = trace(3, 'error');
  const tail = [trace(2, 'normal'), trace(2, 'error')];
  traces.push(...k1, ...k2, ...k3, splitError, splitSlow, splitNormal, splitError2, ...tail);
  keyed.push(toProtobuf(spread(k1)), toProtobuf(spread(k2)));
  for (let i = 0; i < 6; i++) keyed.push(toProtobuf([res('checkout', [splitError[i]!])]));
  keyed.push(toProtobuf(spread(k3)));
  // The slow root comes last: until then the trace looks fast.
  keyed.push(toProtobuf([res('payments', [splitSlow[1]!])]), toProtobuf([res('checkout', [splitSlow[2]!, splitSlow[3]!])]));
  keyed.push(toProtobuf([res('cart', splitNormal.slice(0, 1)), res('checkout', [splitError2[2]!])]));
  keyed.push(toProtobuf([res('cart', splitNormal.slice(1))]));
  keyed.push(toProtobuf([res('checkout', [splitSlow[0]!])]));
  keyed.push(toProtobuf([res('checkout', splitError2.slice(0, 2)), ...spread(tail)]));

  // Unkeyed, batched pipeline: many traces per message; two traces have their halves in different requests.
  const u1 = kinds(['normal', 'error', 'normal', 'normal', 'slow', 'normal', 'normal', 'normal', 'normal', 'error'], 5);
  const u2 = kinds(['normal', 'normal', 'normal', 'slow', 'normal', 'normal'], 2);
  const halvesError = trace(4, 'error');
  const halvesNormal = trace(4, 'normal');
  traces.push(...u1, ...u2, halvesError, halvesNormal);
  unkeyed.push(toProtobuf([...spread(u1), res('inventory', [...halvesError.slice(2), ...halvesNormal.slice(0, 2)])]));
  unkeyed.push(toProtobuf(spread(u2)));
  unkeyed.push(toProtobuf([res('inventory', [...halvesNormal.slice(2), ...halvesError.slice(0, 2)])]));

  const expectedKept = new Set(traces.filter((t) => isError(t) || isSlow(t)).map((t) => t[0]!.traceId));
  return { keyed, unkeyed, traces, expectedKept, halves: [halvesError[0]!.traceId, halvesNormal[0]!.traceId] };
}

// ---- the Collector writing Kafka ----------------------------------------------------------------

/** The Collector writing the topic (JSON is YAML). kafkaexporter keys as of v0.160.0: `traces::topic`, `partition_traces_by_id`. */
function kafkaCollectorConfig(brokers: string[], topic: string, keyedHttp: number, unkeyedHttp: number): Record<string, unknown> {
  const common = {
    brokers,
    client_id: 'otelcol-tailsampler-test',
    protocol_version: '3.9.0',
    traces: { topic, encoding: 'otlp_proto' },
    timeout: '10s',
    retry_on_failure: { enabled: true, initial_interval: '100ms', max_interval: '1s', max_elapsed_time: '60s' },
  };
  return {
    receivers: {
      otlp: { protocols: { http: { endpoint: `127.0.0.1:${keyedHttp}` } } },
      'otlp/unkeyed': { protocols: { http: { endpoint: `127.0.0.1:${unkeyedHttp}` } } },
    },
    exporters: {
      // One message per trace (and scope) of each request, keyed by the hex trace id; no queue, so the
      // receiver answers once Kafka acknowledged.
      'kafka/by_trace_id': {
        ...common,
        partition_traces_by_id: true,
        producer: { required_acks: -1, allow_auto_topic_creation: false },
        sending_queue: { enabled: false },
      },
      // No key: the exporter's queue merges requests for 300 ms into one message of many traces.
      'kafka/batched': {
        ...common,
        producer: { required_acks: -1, allow_auto_topic_creation: false, compression: 'snappy' },
        sending_queue: { enabled: true, num_consumers: 1, queue_size: 100, batch: { flush_timeout: '300ms', sizer: 'items', min_size: 1_000_000 } },
      },
    },
    service: {
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
      pipelines: {
        'traces/by_trace_id': { receivers: ['otlp'], exporters: ['kafka/by_trace_id'] },
        'traces/batched': { receivers: ['otlp/unkeyed'], exporters: ['kafka/batched'] },
      },
    },
  };
}

interface KafkaCollector {
  keyed: string;
  unkeyed: string;
  log(): string;
  stop(): Promise<void>;
}

async function startKafkaCollector(brokers: string[], topic: string): Promise<KafkaCollector> {
  const bin = await otelcolBinary();
  const dir = mkdtempSync(join(tmpdir(), 'tailsampler-otelcol-kafka-'));
  let lastError: unknown;
  // A free port can be taken between finding and binding it: retry on fresh ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [keyedPort, unkeyedPort] = [await freePort(), await freePort()];
    const config = join(dir, 'config.yaml');
    writeFileSync(config, JSON.stringify(kafkaCollectorConfig(brokers, topic, keyedPort, unkeyedPort), null, 2));
    const child: ChildProcess = spawn(bin, [`--config=file:${config}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let dead = false;
    void exited.then(() => (dead = true)); // exited only ever resolves (on 'exit'): nothing to handle
    try {
      for (const port of [keyedPort, unkeyedPort]) {
        await waitFor(`the Kafka-writing collector on ${port}`, async () => {
          if (dead) throw new Error('exited');
          return canConnect(port);
        }, 30_000, 50);
      }
    } catch (e) {
      child.kill('SIGKILL');
      await exited;
      lastError = new Error(`${(e as Error).message}\n--- collector log ---\n${log.slice(-4000)}`);
      continue;
    }
    return {
      keyed: `http://127.0.0.1:${keyedPort}`,
      unkeyed: `http://127.0.0.1:${unkeyedPort}`,
      log: () => log,
      async stop() {
        if (!dead) {
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(t);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function post(endpoint: string, body: Uint8Array): Promise<void> {
  const res = await fetch(`${endpoint}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
  assert.equal(res.status, 200, `${endpoint} answered ${res.status}: ${await res.text()}`);
}

// ---- reading the topic as a plain consumer ------------------------------------------------------

interface TopicMessage {
  partition: number;
  key: string | null;
  /** Span ids by trace id. */
  traces: Map<string, string[]>;
  spans: number;
}

function decode(value: Uint8Array): Pick<TopicMessage, 'traces' | 'spans'> {
  const traces = new Map<string, string[]>();
  let spans = 0;
  for (const rs of TracesData.decode(value).resourceSpans) {
    for (const ss of rs.scopeSpans ?? []) {
      for (const sp of ss.spans ?? []) {
        const t = Buffer.from(sp.traceId!).toString('hex');
        let list = traces.get(t);
        if (list === undefined) traces.set(t, (list = []));
        list.push(Buffer.from(sp.spanId!).toString('hex'));
        spans++;
      }
    }
  }
  return { traces, spans };
}

/** The topic's messages from the start, until they hold `spans` spans. */
async function readTopic(brokers: string[], topic: string, spans: number): Promise<TopicMessage[]> {
  const consumer = new Consumer({ clientId: 'tailsampler-test', groupId: `raw-${randomBytes(4).toString('hex')}`, bootstrapBrokers: brokers });
  const out: TopicMessage[] = [];
  let seen = 0;
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const done = (async () => {
      for await (const m of stream) {
        const d = decode(m.value);
        out.push({ partition: m.partition, key: m.key?.length ? m.key.toString() : null, ...d });
        seen += d.spans;
        if (seen >= spans) break;
      }
    })();
    const timeout = new AbortController();
    const late = sleep(60_000, undefined, { signal: timeout.signal }).then(
      () => assert.fail(`only ${seen} of ${spans} spans in ${topic} after 60 s`),
      () => undefined,
    );
    try {
      await Promise.race([done, late]);
    } finally {
      timeout.abort();
      await stream.close();
    }
  } finally {
    await consumer.close(true);
  }
  return out;
}

// ---- waiting for a tailsampler's decisions --------------------------------------------------------

/**
 * Waits until `svc` decided all `traces` and everything it kept reached `sink`: the traces at the
 * sink are as many as it counted sampled, and the spans there as many as its exporter counted sent.
 */
async function keptBy(name: string, svc: ServiceProcess, sink: RunningOtelcol, traces: number): Promise<ReceivedTrace[]> {
  return waitFor(`${name}: every trace decided and every kept one at its sink`, async () => {
    const decided = await svc.metric('tailsampler_traces_decided_total');
    const sampled = await svc.metric('tailsampler_traces_decided_total', { outcome: 'sampled' });
    const sent = await svc.metric('tailsampler_exporter_sent_spans_total', { exporter: 'otlp' });
    const got = await sink.received();
    const spans = got.reduce((n, t) => n + t.spans.length, 0);
    if (decided === traces && got.length === sampled && spans === sent) return got;
    throw new Error(`decided ${decided}/${traces}, sampled ${sampled}, traces at the sink ${got.length}, spans sent ${sent}, spans at the sink ${spans}`);
  }, 120_000, 500).catch((e: unknown) => {
    const errors = svc.output().split('\n').filter((l) => /"level":(50|60)/.test(l));
    throw new Error(`${(e as Error).message}\n--- ${name}: last of ${errors.length} error log lines ---\n${errors.slice(-3).join('\n').slice(0, 4000)}`);
  });
}

const spanKey = (s: ReceivedTrace['spans'][number]) => canonical({ span: s.span, resource: s.resource, scope: s.scope, resourceSchemaUrl: s.resourceSchemaUrl, scopeSchemaUrl: s.scopeSchemaUrl });

test('a topic written by the Collector kafkaexporter (otlp_proto, trace-id partitioning) gives the same decisions as the embedded path', { timeout: 10 * 60_000 }, async (t) => {
  const brokers = infraEnv('kafka').TAILSAMPLER_KAFKA_BROKERS!.split(',');
  const id = randomBytes(4).toString('hex');
  const topic = `otelcol-kafka-${id}`;

  // The topic as an operator would create it for the Collector: tailsampler's partition count.
  // Undone last first: services and collectors stop before their topic goes.
  const cleanup: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
  });
  const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: brokers });
  cleanup.push(() => admin.close());
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: -1 });
  cleanup.push(() => admin.deleteTopics({ topics: [topic] }));

  const sinkKafka = await startOtelcol();
  cleanup.push(() => sinkKafka.stop());
  const sinkEmbedded = await startOtelcol();
  cleanup.push(() => sinkEmbedded.stop());
  const writer = await startKafkaCollector(brokers, topic);
  cleanup.push(() => writer.stop());

  const serviceConfig = (sink: RunningOtelcol, spool: Record<string, unknown>) => ({
    spool,
    query: { scan_interval_secs: 1, inactivity_threshold_secs: 5, max_trace_age_secs: 300 },
    sampling: { sample_errors: false, sample_latency: false, policies: POLICIES },
    exporters: {
      otlp: { endpoint: sink.httpEndpoint, protocol: 'http/protobuf', retry_on_failure: { initial_interval_ms: 200 } },
      debug: null,
    },
  });
  const embedded = await startService({ config: serviceConfig(sinkEmbedded, { type: 'local' }) });
  cleanup.push(() => embedded.kill());

  const f = fixture(Date.now());
  const allSpans = new Map(f.traces.flat().map((s) => [s.spanId, s]));
  assert.equal(allSpans.size, f.traces.flat().length);
  assert.ok(f.expectedKept.size > 5 && f.expectedKept.size < f.traces.length - 5, 'kept and dropped traces both');

  // The same requests, in the same order, to the Collector (→ Kafka) and to the embedded tailsampler.
  for (const body of f.keyed) {
    await post(writer.keyed, body);
    await post(embedded.http, body);
  }
  const spansIn = (bodies: Uint8Array[]) => bodies.reduce((n, b) => n + decode(b).spans, 0);
  const topicWith = (spans: number) =>
    readTopic(brokers, topic, spans).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n--- collector log ---\n${writer.log().slice(-4000)}`);
    });
  for (const body of f.unkeyed.slice(0, -1)) {
    await post(writer.unkeyed, body);
    await post(embedded.http, body);
  }
  // The exporter's batch went out before the last request, so the halves of two traces are in different messages.
  await topicWith(spansIn([...f.keyed, ...f.unkeyed.slice(0, -1)]));
  await post(writer.unkeyed, f.unkeyed.at(-1)!);
  await post(embedded.http, f.unkeyed.at(-1)!);

  // The topic holds every span once, in the Collector's message layout.
  const messages = await topicWith(allSpans.size);
  const inTopic = messages.flatMap((m) => [...m.traces.values()].flat());
  assert.equal(new Set(inTopic).size, inTopic.length, 'no span twice in the topic');
  assert.deepEqual(new Set(inTopic), new Set(allSpans.keys()), 'every span in the topic');
  const keyed = messages.filter((m) => m.key !== null);
  const unkeyed = messages.filter((m) => m.key === null);
  for (const m of keyed) {
    assert.deepEqual([...m.traces.keys()], [m.key], 'a keyed message holds the one trace its key names');
    assert.equal(m.partition, partitionForKey(m.key!, PARTITIONS), `trace ${m.key} in the partition tailsampler's partitioner gives it`);
  }
  assert.ok(keyed.some((m) => m.spans === 1), 'single-span messages (traces sent span by span)');
  assert.ok(unkeyed.some((m) => m.traces.size > 10), 'messages of many traces (unkeyed, batched)');
  for (const half of f.halves) assert.equal(unkeyed.filter((m) => m.traces.has(half)).length, 2, `trace ${half} in two unkeyed messages`);
  assert.ok(new Set(keyed.map((m) => m.partition)).size > 1, 'keyed messages spread over partitions');
  t.diagnostic(
    `topic ${topic}: ${messages.length} messages (${keyed.length} keyed, ${keyed.filter((m) => m.spans === 1).length} of one span; ` +
      `${unkeyed.length} unkeyed, up to ${Math.max(...unkeyed.map((m) => m.traces.size))} traces each) in ${new Set(messages.map((m) => m.partition)).size} partitions`,
  );

  // Only now a tailsampler reads the topic: a new consumer group starts at its beginning.
  const fromKafka = await startService({
    config: serviceConfig(sinkKafka, { type: 'kafka', kafka: { brokers, topic, group_id: `otelcol-kafka-${id}`, client_id: `tailsampler-${id}` } }),
  });
  cleanup.push(() => fromKafka.kill());

  const viaKafka = await keptBy('kafka spool', fromKafka, sinkKafka, f.traces.length);
  const viaEmbedded = await keptBy('embedded', embedded, sinkEmbedded, f.traces.length);

  const ids = (r: ReceivedTrace[]) => new Set(r.map((x) => x.traceId));
  t.diagnostic(`${f.traces.length} traces, ${allSpans.size} spans; kept ${viaKafka.length} via Kafka, ${viaEmbedded.length} embedded, ${f.expectedKept.size} expected`);
  assert.deepEqual(ids(viaEmbedded), f.expectedKept, 'embedded path: exactly the error and slow traces');
  assert.deepEqual(ids(viaKafka), f.expectedKept, 'kafka spool: exactly the error and slow traces');
  assert.deepEqual(ids(viaKafka), ids(viaEmbedded), 'same decisions on both paths');

  const byTrace = new Map(f.traces.map((x) => [x[0]!.traceId, x]));
  for (const [name, got] of [['kafka spool', viaKafka], ['embedded', viaEmbedded]] as const) {
    for (const r of got) {
      const sent = byTrace.get(r.traceId)!.map((s) => s.spanId).sort();
      assert.deepEqual(r.spans.map((s) => s.span.spanId as string).sort(), sent, `${name}: trace ${r.traceId} complete, each span once`);
    }
  }
  // Beyond the decision: the kept spans leave both paths identical (resource, scope, attributes, tracestate).
  const embeddedSpans = new Map(viaEmbedded.flatMap((r) => r.spans.map((s) => [s.span.spanId as string, spanKey(s)])));
  for (const r of viaKafka) for (const s of r.spans) assert.deepEqual(spanKey(s), embeddedSpans.get(s.span.spanId as string), `span ${s.span.spanId as string} identical on both paths`);

  assert.equal(await fromKafka.metric('tailsampler_exporter_sent_spans_total', { exporter: 'otlp' }), [...f.expectedKept].reduce((n, x) => n + byTrace.get(x)!.length, 0));
  assert.equal(await fromKafka.stop(), 0, 'kafka-spool service shuts down cleanly');
  assert.equal(await embedded.stop(), 0, 'embedded service shuts down cleanly');
});

/**
 * The drop-in pipeline, driven by the Collector project's own load generator: telemetrygen → a gateway
 * Collector running collector-config/gateway-loadbalancing.yaml (routing by trace id) → two tailsampler
 * replicas sharing one Kafka spool (one consumer group; table in the REST catalog, files on Garage) →
 * kept traces out to a Collector (OTLP) and to Datadog's test agent.
 *
 * Two telemetrygen runs, told apart by `--service`: one whose spans all have status Error (kept by a
 * `status_code: ERROR` policy), one with status Ok (dropped). telemetrygen's trace ids are random, so the
 * test counts distinct trace ids per service: at each destination exactly TRACES traces of the error
 * run, each complete (CHILD_SPANS + 1 spans, no span twice), none of the Ok run, the same ids at both.
 * With `apm_stats: true`, the Datadog stats count every span of both runs once (the dropped ones too).
 *
 * The gateway config is the file itself with only its addresses changed: receivers on free 127.0.0.1
 * ports, the loadbalancing exporter's `dns` resolver (a headless Service name) replaced by a `static`
 * one listing the two replicas' OTLP/gRPC endpoints, and the Collector's own metrics endpoint off (its
 * fixed :8888 would clash with other Collectors on the machine). Its pipeline (memory_limiter, batch,
 * loadbalancing with its otlp protocol settings) is unchanged.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { parse, stringify } from 'yaml';
import { startDdAgent, type DdJsonSpan } from '../../support/ddagent.ts';
import { garageS3Config, infraEnv } from '../../support/infra.ts';
import { otelcolBinary, startOtelcol, type ReceivedTrace } from '../../support/otelcol.ts';
import { freePort, startService, waitFor, type ServiceProcess } from '../../support/service.ts';

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const PARTITIONS = 4;
const TRACES = 25;
const CHILD_SPANS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** $TAILSAMPLER_TELEMETRYGEN, else the binary scripts/ensure-telemetrygen.sh installs (cached). */
async function telemetrygenBinary(): Promise<string> {
  const fromEnv = process.env.TAILSAMPLER_TELEMETRYGEN;
  if (fromEnv) return fromEnv;
  const { stdout } = await execFileAsync('bash', [join(REPO, 'scripts/ensure-telemetrygen.sh')], { timeout: 20 * 60_000 });
  const path = stdout.trim().split('\n').at(-1);
  if (!path) throw new Error('ensure-telemetrygen.sh printed no path');
  return path;
}

/** One telemetrygen run: `traces` traces of `childSpans` + 1 spans, every span with `status`, under `service`. */
async function telemetrygen(bin: string, endpoint: string, service: string, status: 'Error' | 'Ok'): Promise<void> {
  const args = ['traces', '--otlp-endpoint', endpoint, '--otlp-insecure', '--workers', '1', '--rate', '0',
    '--traces', String(TRACES), '--child-spans', String(CHILD_SPANS), '--status-code', status, '--service', service];
  // A queue larger than the run, so its batch span processor never drops a span.
  const { stderr } = await execFileAsync(bin, args, { env: { ...process.env, OTEL_BSP_MAX_QUEUE_SIZE: '100000' }, timeout: 120_000 }).catch((e: unknown) => {
    throw new Error(`telemetrygen ${args.join(' ')} failed: ${(e as Error).message}`);
  });
  assert.doesNotMatch(stderr, /"level":"error"|\berror\b.*\bexport/i, `telemetrygen reported an error:\n${stderr.slice(-2000)}`);
}

type Yaml = Record<string, unknown>;
interface StatsPayload { Stats: { Stats: { Service: string; Hits: number; Errors: number }[] }[] }

/** collector-config/gateway-loadbalancing.yaml with its receivers and resolver pointed at 127.0.0.1. */
function gatewayConfig(ports: { grpc: number; http: number }, replicas: string[]): Yaml {
  const doc = parse(readFileSync(join(REPO, 'collector-config/gateway-loadbalancing.yaml'), 'utf8')) as Yaml;
  const protocols = ((doc.receivers as Yaml).otlp as Yaml).protocols as { grpc: { endpoint: string }; http: { endpoint: string } };
  protocols.grpc.endpoint = `127.0.0.1:${ports.grpc}`;
  protocols.http.endpoint = `127.0.0.1:${ports.http}`;
  const lb = (doc.exporters as Yaml).loadbalancing as { routing_key: string; resolver: Yaml };
  assert.equal(lb.routing_key, 'traceID');
  assert.ok('dns' in lb.resolver, 'the file resolves the replicas through DNS');
  lb.resolver = { static: { hostnames: replicas } };
  (doc.service as Yaml).telemetry = { metrics: { level: 'none' } };
  return doc;
}

/** Starts a Collector on `config`; resolves once its OTLP/gRPC port answers. */
async function startGateway(config: Yaml, grpcPort: number): Promise<{ stop(): Promise<void>; log(): string }> {
  const bin = await otelcolBinary();
  const dir = mkdtempSync(join(tmpdir(), 'tailsampler-gateway-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(path, stringify(config));
  const child = spawn(bin, [`--config=file:${path}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (c: Buffer) => {
    log += c.toString();
    appendFileSync(join(dir, 'otelcol.log'), c);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('the gateway Collector listening', async () => {
      if (child.exitCode !== null) throw new Error(`gateway Collector exited with ${child.exitCode}:\n${log.slice(-4000)}`);
      return new Promise<boolean>((res) => {
        const s = connect(grpcPort, '127.0.0.1');
        s.once('connect', () => (s.destroy(), res(true)));
        s.once('error', () => res(false));
      });
    }, 30_000, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  return { stop, log: () => log };
}

/** Spans per full trace id, from what the Collector's file exporter wrote, with the service they came from. */
function byTraceAtCollector(received: ReceivedTrace[]): Map<string, { services: Set<string>; spanIds: string[] }> {
  const out = new Map<string, { services: Set<string>; spanIds: string[] }>();
  for (const t of received) {
    const services = new Set<string>();
    for (const s of t.spans) {
      const attrs = (s.resource.attributes ?? []) as { key: string; value: { stringValue?: string } }[];
      services.add(attrs.find((a) => a.key === 'service.name')?.value.stringValue ?? '');
    }
    out.set(t.traceId.toLowerCase(), { services, spanIds: t.spans.map((s) => String(s.span.spanId)) });
  }
  return out;
}

/** The same from the test agent: grouped by the full OTel trace id (`otel.trace_id`), span ids as decimal. */
function byTraceAtAgent(traces: DdJsonSpan[][]): Map<string, { services: Set<string>; spanIds: string[] }> {
  const out = new Map<string, { services: Set<string>; spanIds: string[] }>();
  for (const span of traces.flat()) {
    const id = (span.meta['otel.trace_id'] ?? '').toLowerCase();
    let t = out.get(id);
    if (!t) out.set(id, (t = { services: new Set(), spanIds: [] }));
    t.services.add(span.service);
    t.spanIds.push(String(span.span_id));
  }
  return out;
}

/** Exactly TRACES traces, all of `service`, each CHILD_SPANS + 1 distinct spans, each once. */
function assertExactlyTheErrorRun(where: string, got: Map<string, { services: Set<string>; spanIds: string[] }>, service: string, okService: string): void {
  const ofOk = [...got.values()].filter((t) => t.services.has(okService)).length;
  assert.equal(ofOk, 0, `${where}: no trace of the Ok run`);
  assert.equal(got.size, TRACES, `${where}: one entry per error trace (${[...got.values()].map((t) => [...t.services].join('+')).join(', ')})`);
  for (const [id, t] of got) {
    assert.match(id, /^[0-9a-f]{32}$/, `${where}: full trace id`);
    assert.deepEqual([...t.services], [service], `${where}: trace ${id} from the error run only`);
    assert.equal(t.spanIds.length, CHILD_SPANS + 1, `${where}: trace ${id} complete, no span twice`);
    assert.equal(new Set(t.spanIds).size, CHILD_SPANS + 1, `${where}: trace ${id} has distinct spans`);
  }
}

test('telemetrygen → gateway Collector (gateway-loadbalancing.yaml) → two replicas on one Kafka spool → Collector and Datadog agent: exactly the error traces, complete, once', async (t) => {
  const tg = await telemetrygenBinary();
  const brokers = infraEnv('kafka').TAILSAMPLER_KAFKA_BROKERS!.split(',');
  const rest = infraEnv('iceberg-rest');
  const id = randomBytes(4).toString('hex');
  const topic = `telemetrygen-${id}`;
  const errService = `tg-error-${id}`;
  const okService = `tg-ok-${id}`;

  const otelcol = await startOtelcol();
  t.after(() => otelcol.stop());
  const agent = await startDdAgent();
  t.after(() => agent.stop());
  const config = {
    spool: { type: 'kafka', kafka: { brokers, topic, group_id: `telemetrygen-${id}`, partitions: PARTITIONS } },
    storage: {
      catalog: { type: 'rest', uri: rest.TAILSAMPLER_ICEBERG_REST_URI, warehouse: rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE },
      table: { namespace: `telemetrygen_${id}`, name: 'otel_spans' },
      s3: garageS3Config(),
      commit_interval_secs: 1,
    },
    query: { scan_interval_secs: 1, inactivity_threshold_secs: 5, max_trace_age_secs: 600 },
    sampling: { sample_errors: false, sample_latency: false, policies: [{ name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } }] },
    exporters: {
      otlp: { endpoint: otelcol.httpEndpoint, protocol: 'http/protobuf', retry_on_failure: { initial_interval_ms: 200 } },
      datadog: { endpoint: agent.url, apm_stats: true },
    },
  };
  const replicas: ServiceProcess[] = [];
  for (let i = 0; i < 2; i++) {
    const svc = await startService({ config });
    t.after(() => svc.kill());
    replicas.push(svc);
  }
  await waitFor('both replicas own partitions', async () => {
    for (const r of replicas) if ((await r.metric('tailsampler_spool_kafka_assigned_partitions')) === 0) return false;
    return true;
  }, 60_000);

  const ports = { grpc: await freePort(), http: await freePort() };
  const gateway = await startGateway(gatewayConfig(ports, replicas.map((r) => r.grpc)), ports.grpc);
  t.after(() => gateway.stop());

  await telemetrygen(tg, `127.0.0.1:${ports.grpc}`, errService, 'Error');
  await telemetrygen(tg, `127.0.0.1:${ports.grpc}`, okService, 'Ok');
  const total = 2 * TRACES * (CHILD_SPANS + 1);

  // The gateway spread the traces over both replicas, and every span reached one of them.
  await waitFor('every span accepted by a replica', async () => {
    const accepted = await Promise.all(replicas.map((r) => r.metric('tailsampler_receiver_accepted_spans_total')));
    if (accepted.reduce((a, b) => a + b, 0) >= total) return accepted;
    throw new Error(`accepted ${accepted.join(' + ')} of ${total}\n--- gateway log ---\n${gateway.log().slice(-2000)}`);
  }, 60_000).then((accepted) => {
    assert.equal(accepted.reduce((a, b) => a + b, 0), total, 'no span twice into the spool');
    for (const n of accepted) assert.ok(n > 0, `the loadbalancing exporter routed to both replicas (${accepted.join(', ')})`);
  });
  await waitFor('every trace decided', async () => {
    const decided = (await Promise.all(replicas.map((r) => r.metric('tailsampler_traces_decided_total')))).reduce((a, b) => a + b, 0);
    if (decided >= 2 * TRACES) return true;
    throw new Error(`${decided} of ${2 * TRACES} decided`);
  }, 120_000, 500);
  await waitFor('the error traces complete at both destinations', async () => {
    const atCollector = byTraceAtCollector(await otelcol.received());
    const atAgent = byTraceAtAgent(await agent.traces());
    const complete = (m: typeof atCollector) => [...m.values()].filter((x) => x.services.has(errService) && x.spanIds.length >= CHILD_SPANS + 1).length;
    if (complete(atCollector) >= TRACES && complete(atAgent) >= TRACES) return true;
    throw new Error(`complete: ${complete(atCollector)} at the Collector, ${complete(atAgent)} at the agent, of ${TRACES}`);
  }, 60_000, 500);
  await sleep(3000); // anything sent twice or wrongly would have arrived by now

  const atCollector = byTraceAtCollector(await otelcol.received());
  const atAgent = byTraceAtAgent(await agent.traces());
  assertExactlyTheErrorRun('Collector', atCollector, errService, okService);
  assertExactlyTheErrorRun('Datadog agent', atAgent, errService, okService);
  assert.deepEqual(new Set(atAgent.keys()), new Set(atCollector.keys()), 'the same traces at both destinations');
  const failures = await agent.failures();
  assert.equal(failures.status, 200, `the test agent's payload checks: ${failures.text}`);

  // APM stats count every span received, the dropped Ok run's too; shutdown flushes the open buckets.
  for (const r of replicas) assert.equal(await r.stop(), 0, 'clean shutdown');
  const perService = await waitFor('stats of both runs at the agent', async () => {
    const payloads = (await (await fetch(`${agent.url}/test/session/stats`)).json()) as StatsPayload[];
    const sums = new Map<string, { hits: number; errors: number }>();
    for (const g of payloads.flatMap((p) => p.Stats.flatMap((b) => b.Stats))) {
      const s = sums.get(g.Service) ?? { hits: 0, errors: 0 };
      s.hits += g.Hits;
      s.errors += g.Errors;
      sums.set(g.Service, s);
    }
    return (sums.get(errService)?.hits ?? 0) + (sums.get(okService)?.hits ?? 0) >= total ? sums : undefined;
  }, 30_000);
  const perRun = TRACES * (CHILD_SPANS + 1);
  assert.deepEqual(perService.get(errService), { hits: perRun, errors: perRun }, 'stats: every span of the error run, each an error');
  assert.deepEqual(perService.get(okService), { hits: perRun, errors: 0 }, 'stats: every span of the dropped Ok run');

  const admin = new Admin({ clientId: 'tailsampler-test', bootstrapBrokers: brokers });
  await admin.deleteTopics({ topics: [topic, `${topic}-decisions`] }).catch(() => undefined);
  await admin.close();
});

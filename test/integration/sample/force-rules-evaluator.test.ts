import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ColumnName } from '../../../src/lake/span-schema.ts';
import type { DeliveryOptions, ExportResult, TraceExporter } from '../../../src/export/exporter.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { forceRulesSchema } from '../../../src/sample/rules/config.ts';
import { withForceRules } from '../../../src/sample/rules/factory.ts';
import { RedisRuleStore } from '../../../src/sample/rules/redis-rule-store.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { infraEnv } from '../../support/infra.ts';
import { localPipeline } from '../../support/local-pipeline.ts';
import { makeTrace } from '../../support/traces.ts';
import { counterValue } from '../../unit/sample/helpers.ts';

const Request = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

/** Trace ids of what the emitter delivered. */
class Collecting implements TraceExporter {
  readonly id = 'collect';
  readonly delivery: DeliveryOptions = { maxBatchSpans: 100, capacity: 4, maxBacklogTraces: 100, retryIntervalMs: { initial: 1, max: 1 } };
  readonly traces = new Set<string>();
  async start(): Promise<void> {}
  async shutdown(): Promise<void> {}
  async export(request: Uint8Array): Promise<ExportResult> {
    for (const rs of Request.decode(request).resourceSpans) {
      for (const ss of rs.scopeSpans!) for (const s of ss.spans!) this.traces.add(Buffer.from(s.traceId!).toString('hex'));
    }
    return { ok: true, rejectedSpans: 0 };
  }
}

test('in the evaluator, a keep rule keeps exactly the matching traces the policies drop, a drop rule drops traces they keep; decisions name the rule', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-force-rules-eval-'));
  const clock = { now: Date.now() };
  const metrics = new Metrics();
  const logger = silentLogger();
  const config = forceRulesSchema.parse({ redis: { endpoint: infraEnv('redis').TAILSAMPLER_REDIS_URL, key_prefix: `test:force-rules-eval:${randomUUID()}:` } })!;
  const rules = new RedisRuleStore(config, { metrics, logger });
  await rules.start();
  t.after(() => rules.shutdown());
  const exporter = new Collecting();
  const p = await localPipeline(t, dir, {
    policies: `
    - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }`,
    exporters: [exporter],
    clock,
    metrics,
    sampler: (policies) => withForceRules(policies, rules, { metrics, logger }),
  });
  // What the evaluator reads beyond the hot columns, per batch.
  const reads: ColumnName[][] = [];
  const read = p.evaluator.reader.read.bind(p.evaluator.reader);
  p.evaluator.reader.read = (traces, columns) => {
    reads.push([...columns]);
    return read(traces, columns);
  };
  const decide = async () => {
    await p.evaluator.scan();
    clock.now += 11_000;
    await p.evaluator.scan();
    await p.emitter.settled();
  };

  // No rule: the status policy needs the summary only, and no span column is read.
  const before = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  await p.send(before);
  await decide();
  assert.deepEqual(reads, [], 'nothing read beyond the hot columns without rules');
  assert.deepEqual([...exporter.traces], [before[0]!.traceId]);

  const keep = await rules.create(
    { action: 'keep', ttl_secs: 3600, priority: 100, reason: 'debug checkout', match: { resource: [{ key: 'service.name', op: 'eq', value: 'svc' }], span: [{ key: 'http.route', op: 'prefix', value: '/api' }] } },
    'alice',
  );
  const drop = await rules.create(
    { action: 'drop', ttl_secs: 3600, reason: 'health checks fail by design', match: { span: [{ key: 'status', op: 'eq', value: 'error' }, { key: 'http.route', op: 'eq', value: '/health' }] } },
    'bob',
  );
  const api = makeTrace({ n: 3, startMs: clock.now, durationMs: 5 });
  api[1]!.attributes.push(['http.route', { s: '/api/pay' }]);
  const web = makeTrace({ n: 3, startMs: clock.now, durationMs: 5 });
  web[1]!.attributes.push(['http.route', { s: '/web/pay' }]);
  const health = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  health[2]!.attributes.push(['http.route', { s: '/health' }]);
  const healthElsewhere = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  healthElsewhere[0]!.attributes.push(['http.route', { s: '/health' }]); // not the error span
  const failing = makeTrace({ n: 2, startMs: clock.now, durationMs: 5, error: true });
  await p.send([...api, ...web, ...health, ...healthElsewhere, ...failing]);
  await decide();

  const id = (s: typeof api) => s[0]!.traceId;
  assert.deepEqual(
    new Set(exporter.traces),
    new Set([id(before), id(api), id(healthElsewhere), id(failing)]),
    'kept: the /api trace (by rule) and the error traces the drop rule does not match (by policy)',
  );
  const decisions = p.store.lookup([id(api), id(web), id(health), id(healthElsewhere), id(failing)]);
  assert.deepEqual(
    Object.fromEntries([...decisions].map(([k, d]) => [k, [d.keep, d.policy, d.threshold]])),
    {
      [id(api)]: [true, `force_rule:${keep.id}`, '0'],
      [id(web)]: [false, '', null],
      [id(health)]: [false, `force_rule:${drop.id}`, null],
      [id(healthElsewhere)]: [true, 'errors', '0'],
      [id(failing)]: [true, 'errors', '0'],
    },
  );
  assert.equal(await counterValue(metrics.tracesDecided, { policy: 'force_rule', outcome: 'sampled' }), 1);
  assert.equal(await counterValue(metrics.tracesDecided, { policy: 'force_rule', outcome: 'not_sampled' }), 1);
  assert.ok(reads.length > 0);
  for (const cols of reads) assert.deepEqual([...cols].sort(), ['attributes', 'service_name', 'status_code'], 'only the columns the rules name');
});

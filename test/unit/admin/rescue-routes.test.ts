import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rescueRoutes } from '../../../src/admin/rescue-routes.ts';
import type { AdminResponse, AdminRoute } from '../../../src/admin/route.ts';
import { DecisionStore } from '../../../src/evaluate/decision-store.ts';
import type { TraceLocation } from '../../../src/evaluate/trace-reader.ts';
import { DeliveryStore } from '../../../src/export/delivery-store.ts';
import type { PartialSpanColumns } from '../../../src/lake/span-schema.ts';
import type { DataFileRef, PartitionValues, SpanTable, TableChanges } from '../../../src/lake/table.ts';
import { rescueSchema } from '../../../src/rescue/config.ts';
import { Rescuer, type RescueJobView } from '../../../src/rescue/rescuer.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);

const fileA: DataFileRef = {
  path: 'mem://t/f1', partition: { timestamp_day: 20_000 } as unknown as PartitionValues, recordCount: 1, fileSizeInBytes: 1,
  sequenceNumber: 7, traceIdMin: A, traceIdMax: A, traceIdBucket: null,
};

/**
 * A table holding trace A in one file, whose listing waits for `release` (to see a job mid-search),
 * and a target that records what it is handed (no exporter: the routes are what is under test).
 */
async function setup(t: TestContext, config: Partial<Record<string, number>>) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const table = {
    async changesSince(): Promise<TableChanges> {
      await gate;
      return { snapshots: [], files: [fileA as TableChanges['files'][number]], lastSequenceNumber: 7 };
    },
    async read(_f: DataFileRef, _c: unknown, ids?: ReadonlySet<string>): Promise<PartialSpanColumns> {
      const rows = ids === undefined || ids.has(A) ? [A] : [];
      return { length: rows.length, trace_id: rows };
    },
  } as unknown as SpanTable;
  const handed: { traces: TraceLocation[]; files: string[]; id: string }[] = [];
  const target = {
    rescue(traces: readonly TraceLocation[], files: readonly DataFileRef[], id: string) {
      handed.push({ traces: [...traces], files: files.map((f) => f.path), id });
      return { traces: new Set(traces.map((x) => x.traceId)), deliveries: traces.length };
    },
  };
  const store = new DecisionStore(mkdtempSync(join(tmpdir(), 'ts-rescue-routes-')));
  const deliveries = new DeliveryStore(store);
  const metrics = new Metrics();
  const rc = rescueSchema.parse(config);
  const rescuer = new Rescuer(rc, { table, target, store, deliveries, metrics, logger: silentLogger() });
  await rescuer.start();
  t.after(async () => {
    release();
    await rescuer.shutdown();
    store.close();
  });
  return { routes: rescueRoutes(rescuer, rc), release, handed, metrics };
}

function call(routes: AdminRoute[], method: string, path: string, req: { body?: unknown; params?: Record<string, string>; query?: string } = {}): Promise<AdminResponse> {
  const route = routes.find((r) => r.method === method && r.path === path);
  assert.ok(route, `${method} ${path} is a route`);
  return route.handle({ params: req.params ?? {}, query: new URLSearchParams(req.query ?? ''), body: req.body, principal: 'tester' });
}

test('a bad trace id is refused 400 with its path; the rest of the body too', async (t) => {
  const { routes, handed } = await setup(t, {});
  const res = await call(routes, 'POST', '/v1/rescue', { body: { trace_ids: [A, 'nope'], reason: 7 } });
  assert.equal(res.status, 400);
  const body = res.body as { error: { code: string; issues: { path: string }[] } };
  assert.equal(body.error.code, 'TS_RESCUE_INVALID');
  assert.deepEqual(body.error.issues.map((i) => i.path), ['trace_ids[1]', 'reason']);
  assert.equal(handed.length, 0, 'nothing rescued');
  const bad = await call(routes, 'GET', '/v1/rescue', { query: 'limit=0' });
  assert.equal(bad.status, 400);
});

test('an unknown job is 404', async (t) => {
  const { routes } = await setup(t, {});
  const res = await call(routes, 'GET', '/v1/rescue/{id}', { params: { id: 'nope' } });
  assert.equal(res.status, 404);
  assert.equal((res.body as { error: { code: string } }).error.code, 'TS_RESCUE_JOB_NOT_FOUND');
});

test('a search that outlasts sync_wait_ms answers 202 with Location; progress follows it to done; jobs beyond max_jobs get 429', async (t) => {
  const { routes, release, handed, metrics } = await setup(t, { sync_wait_ms: 20, max_jobs: 1 });
  const first = await call(routes, 'POST', '/v1/rescue', { body: { trace_ids: [A, B], reason: 'why' } });
  assert.equal(first.status, 202);
  const job = first.body as RescueJobView;
  assert.equal(first.headers?.location, `/v1/rescue/${job.id}`);
  assert.equal(job.state, 'searching');
  assert.equal(job.complete, false);

  const busy = await call(routes, 'POST', '/v1/rescue', { body: { trace_ids: [B] } });
  assert.equal(busy.status, 429);
  assert.equal(busy.headers?.['retry-after'], '5');
  assert.equal((busy.body as { error: { code: string } }).error.code, 'TS_RESCUE_BUSY');

  release();
  let view: RescueJobView;
  for (;;) {
    view = (await call(routes, 'GET', '/v1/rescue/{id}', { params: { id: job.id } })).body as RescueJobView;
    if (view.state === 'done') break;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(view.progress, { files_total: 1, files_scanned: 1, traces_found: 1, traces_queued: 1, traces_already_owed: 0, traces_not_found: 1 });
  assert.deepEqual(view.traces, [{ trace_id: A, outcome: 'queued' }, { trace_id: B, outcome: 'not_found' }]);
  assert.deepEqual([view.principal, view.reason, view.request], ['tester', 'why', { trace_ids: [A, B] }]);
  // The target owes nothing in the delivery store here, so every delivery reads as done.
  assert.deepEqual(view.deliveries, { total: 1, pending: 0, delivered: 1, dead_lettered: 0 });
  assert.equal(view.complete, true);
  assert.deepEqual(handed, [{ traces: [{ traceId: A, firstSeq: 7, lastSeq: 7 }], files: ['mem://t/f1'], id: job.id }]);

  const list = (await call(routes, 'GET', '/v1/rescue')).body as { jobs: RescueJobView[] };
  assert.deepEqual(list.jobs.map((j) => [j.id, j.state, j.traces.length]), [[job.id, 'done', 0]]);
  const { values } = await metrics.rescuedTraces.get();
  assert.deepEqual(Object.fromEntries(values.map((v) => [v.labels.outcome, v.value])), { queued: 1, not_found: 1 });
});

test('each route carries its OpenAPI operation; the request body schema comes from the validator', async (t) => {
  const { routes } = await setup(t, {});
  assert.deepEqual(routes.map((r) => `${r.method} ${r.path}`), ['POST /v1/rescue', 'GET /v1/rescue/{id}', 'GET /v1/rescue']);
  const post = routes[0]!.openapi as { requestBody: { content: { 'application/json': { schema: { properties: Record<string, { properties?: Record<string, unknown>; maxItems?: number }> } } } } };
  const schema = post.requestBody.content['application/json'].schema;
  assert.deepEqual(Object.keys(schema.properties).sort(), ['limit', 'query', 'reason', 'trace_ids']);
  assert.equal(schema.properties.trace_ids!.maxItems, 10_000, 'rescue.max_traces');
  assert.deepEqual(Object.keys(schema.properties.query!.properties!).sort(), ['attributes', 'error_only', 'from', 'service', 'to']);
  for (const r of routes) assert.ok((r.openapi as { responses: Record<string, unknown> }).responses[200], `${r.path} documents 200`);
});

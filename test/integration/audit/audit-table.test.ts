import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditBuffer } from '../../../src/audit/audit-buffer.ts';
import { AuditSink } from '../../../src/audit/audit-sink.ts';
import { configSchema, type StorageConfig } from '../../../src/config/schema.ts';
import { DecisionStore } from '../../../src/evaluate/decision-store.ts';
import { AUDIT_COLUMNS } from '../../../src/lake/audit-schema.ts';
import { createAuditTable } from '../../../src/lake/factory.ts';
import { warehouseUri } from '../../../src/lake/file-io-factory.ts';
import type { DecidedTrace } from '../../../src/pipeline/decision-sink.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { garageS3Config, infraEnv } from '../../support/infra.ts';
import { localPipeline } from '../../support/local-pipeline.ts';
import { hex, makeTrace } from '../../support/traces.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '../../..');
const python = process.env.TAILSAMPLER_PYTHON ?? execFileSync('bash', [join(repo, 'scripts/ensure-python.sh')], { encoding: 'utf8' }).trim();

interface Why {
  outcome: string;
  policy: string;
  span_count: number;
  error_count: number;
  duration: number;
  replica: string;
  decided_at: string;
}
interface Answer {
  count: number;
  trace_ids: string[];
  why: Record<string, Why[]>;
  duckdb: Record<string, [string, string, number, number, string][]>;
  field_ids: Record<string, number>;
  types: Record<string, string>;
  partition: [string, number, number, string][];
  snapshots: number;
  summary: Record<string, string>;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-audit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs audit-why.py against the catalog `storage` names and parses its answer. */
function ask(storage: StorageConfig, traceIds: readonly string[]): Answer {
  const c = storage.catalog;
  const where = c.type === 'rest' ? ['rest', c.uri, c.warehouse!] : ['sql', c.uri, warehouseUri(c.warehouse)];
  const out = execFileSync(python, [join(here, 'audit-why.py'), ...where, storage.table.namespace, storage.audit_table!.name, ...traceIds], {
    env: { ...process.env, ...(c.type === 'rest' ? infraEnv('garage') : {}) },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as Answer;
}

/** A decision as the evaluator hands it to `recording` (e.g. one a force rule made). */
function decision(traceId: string, keep: boolean, policy: string, nowMs: number, spans = 4): DecidedTrace {
  return {
    decision: { traceId, keep, policy, threshold: keep ? '0' : null, decidedAtMs: nowMs, firstSeq: 1, lastSeq: 1, exported: !keep },
    summary: {
      traceId,
      spanCount: spans,
      errorCount: 0,
      minStartNs: BigInt(nowMs - 5_000) * 1_000_000n,
      maxEndNs: BigInt(nowMs - 4_000) * 1_000_000n,
      bytes: 100 * spans,
      hasRoot: true,
      firstSeenMs: nowMs - 20_000,
      lastSeenMs: nowMs - 11_000,
      lastReceivedMs: nowMs - 11_000,
    },
  };
}

const FIELD_IDS = Object.fromEntries(AUDIT_COLUMNS.map((c) => [c.name, c.id]));

test('embedded catalog: a real pipeline audits a kept and a dropped trace, a force rule one more; pyiceberg and DuckDB answer why', async (t) => {
  const dir = tempDir(t);
  const clock = { now: Date.now() };
  const metrics = new Metrics();
  const p = await localPipeline(t, dir, { exporters: [], clock, metrics, audit: { replica: 'replica-a' } });
  const kept = makeTrace({ n: 3, startMs: clock.now, durationMs: 5, error: true });
  const dropped = makeTrace({ n: 2, startMs: clock.now, durationMs: 5 });
  await p.send([...kept, ...dropped]);
  await p.evaluator.scan();
  clock.now += 11_000;
  await p.evaluator.scan();
  // A force rule's decision, as the evaluator would record it (the rules engine is another component).
  const forced = hex(16);
  p.store.transaction(() => p.audit!.recording([decision(forced, true, 'force_rule:abc', clock.now, 7)]));
  const pending = () => new AuditBuffer(p.store).size;
  assert.equal(pending(), 3, 'buffered in the state database until committed');
  await p.audit!.drain();
  assert.equal(pending(), 0);
  assert.equal((await metrics.auditCommittedDecisions.get()).values[0]!.value, 3);

  const keptId = kept[0]!.traceId;
  const droppedId = dropped[0]!.traceId;
  const r = ask(p.config.storage, [keptId, droppedId, forced]);
  assert.equal(r.count, 3);
  assert.deepEqual(r.field_ids, FIELD_IDS);
  assert.equal(r.types.decided_at, 'timestamptz');
  assert.deepEqual(r.partition, [['decided_at_day', 1000, 2, 'day']]);
  const [k] = r.why[keptId]!;
  assert.deepEqual([k!.outcome, k!.policy, k!.span_count, k!.error_count, k!.replica], ['sampled', 'errors', 3, 1, 'replica-a']);
  assert.equal(k!.duration, 5_000_000, 'root span 5 ms');
  assert.equal(Date.parse(k!.decided_at), clock.now);
  assert.deepEqual(r.why[droppedId]!.map((w) => [w.outcome, w.policy, w.span_count, w.error_count]), [['not_sampled', '', 2, 0]]);
  assert.deepEqual(r.why[forced]!.map((w) => [w.outcome, w.policy, w.span_count]), [['sampled', 'force_rule:abc', 7]]);
  assert.deepEqual(r.duckdb[keptId], [['sampled', 'errors', 3, 1, 'replica-a']]);
  assert.deepEqual(r.duckdb[droppedId], [['not_sampled', '', 2, 0, 'replica-a']]);
  assert.deepEqual(r.duckdb[forced], [['sampled', 'force_rule:abc', 7, 0, 'replica-a']]);
});

/** A buffer whose first delete fails: the process dies between the table commit and the buffer delete. */
class DiesBeforeDelete extends AuditBuffer {
  override deleteThrough(): number {
    throw new Error('killed between commit and buffer delete');
  }
}

/**
 * Commits a batch, "dies" before deleting it from the buffer, restarts on the same state database and
 * table: the rows are found committed, leave the buffer, and the table holds each decision once.
 */
async function restartBetweenCommitAndDelete(t: TestContext, storage: StorageConfig, stateDir: string): Promise<void> {
  const deps = { metrics: new Metrics(), logger: silentLogger() };
  const now = Date.now();
  const first = [decision(hex(16), true, 'errors', now), decision(hex(16), false, '', now), decision(hex(16), true, 'force_rule:abc', now)];
  {
    const store = new DecisionStore(stateDir);
    const opened = await createAuditTable(storage, storage.audit_table!, deps);
    const sink = new AuditSink(opened.table, new DiesBeforeDelete(store), { commitIntervalMs: 3_600_000, maxRowsPerCommit: 1000, replica: 'r1' }, deps);
    store.transaction(() => sink.recording(first));
    await assert.rejects(sink.commitOnce(), /killed between commit and buffer delete/);
    // No shutdown: the process is gone. Its state database and the table stay.
    store.close();
    await opened.close();
  }
  const store = new DecisionStore(stateDir);
  t.after(() => store.close());
  const opened = await createAuditTable(storage, storage.audit_table!, deps);
  t.after(opened.close);
  const buffer = new AuditBuffer(store);
  assert.equal(buffer.size, 3, 'the rows were still buffered');
  const sink = new AuditSink(opened.table, buffer, { commitIntervalMs: 3_600_000, maxRowsPerCommit: 1000, replica: 'r1' }, deps);
  await sink.start();
  assert.equal(buffer.size, 0, 'found in the table at start and removed from the buffer');
  const second = decision(hex(16), false, 'probabilistic', now + 1);
  store.transaction(() => sink.recording([second]));
  await sink.shutdown();
  const ids = [...first, second].map((d) => d.decision.traceId);
  const r = ask(storage, ids);
  assert.deepEqual(r.trace_ids, [...ids].sort(), 'every decision exactly once');
  assert.equal(r.snapshots, 2);
  assert.equal(r.summary[`tailsampler.audit.${buffer.writerId}`]?.split('@')[0], '4');
  assert.deepEqual(r.why[ids[2]!]!.map((w) => [w.outcome, w.policy]), [['sampled', 'force_rule:abc']]);
}

test('embedded catalog: a restart between the audit commit and the buffer delete does not duplicate rows', async (t) => {
  const dir = tempDir(t);
  const storage = configSchema.parse({
    storage: { catalog: { uri: join(dir, 'catalog.db'), warehouse: join(dir, 'warehouse') } },
  }).storage;
  await restartBetweenCommitAndDelete(t, storage, join(dir, 'state'));
});

test('REST catalog + Garage: a restart between commit and delete does not duplicate; pyiceberg answers why through the catalog', async (t) => {
  const rest = infraEnv('iceberg-rest');
  const namespace = `it_audit_${randomBytes(4).toString('hex')}`;
  const storage = configSchema.parse({
    storage: {
      catalog: { type: 'rest', uri: rest.TAILSAMPLER_ICEBERG_REST_URI!, warehouse: rest.TAILSAMPLER_ICEBERG_REST_WAREHOUSE! },
      table: { namespace, name: 'otel_spans' },
      s3: garageS3Config(),
    },
  }).storage;
  await restartBetweenCommitAndDelete(t, storage, join(tempDir(t), 'state'));
});

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditBuffer } from '../../../src/audit/audit-buffer.ts';
import { AUDIT_KEY_PREFIX, AuditSink, auditSummary, committedThrough } from '../../../src/audit/audit-sink.ts';
import { DecisionStore } from '../../../src/evaluate/decision-store.ts';
import type { AuditColumns } from '../../../src/lake/audit-schema.ts';
import type { AuditTable } from '../../../src/lake/iceberg/audit-table.ts';
import type { CommitSummary, SnapshotRef } from '../../../src/lake/table.ts';
import type { DecidedTrace } from '../../../src/pipeline/decision-sink.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';

const DAY = 86_400_000;

function store(t: TestContext): DecisionStore {
  const dir = mkdtempSync(join(tmpdir(), 'ts-audit-unit-'));
  const s = new DecisionStore(dir);
  t.after(() => {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return s;
}

function decided(traceId: string, keep: boolean, policy: string, nowMs: number): DecidedTrace {
  return {
    decision: { traceId, keep, policy, threshold: keep ? '8' : null, decidedAtMs: nowMs, firstSeq: 1, lastSeq: 2, exported: !keep },
    summary: {
      traceId,
      spanCount: 5,
      errorCount: keep ? 1 : 0,
      minStartNs: 1_000_000_000_000_000_000n,
      maxEndNs: 1_000_000_000_250_000_000n,
      bytes: 1234,
      hasRoot: true,
      firstSeenMs: nowMs - 30_000,
      lastSeenMs: nowMs - 10_000,
      lastReceivedMs: nowMs - 10_000,
    },
  };
}

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => (from + i).toString(16).padStart(32, '0'));

/** An audit table in memory: keeps snapshots (with the summaries the sink computes) and trace ids. */
class MemoryAuditTable implements AuditTable {
  snapshots: SnapshotRef[] = [];
  traceIds: string[] = [];
  failNext: Error | null = null;

  async append(batch: AuditColumns, summary: CommitSummary): Promise<SnapshotRef> {
    if (this.failNext !== null) {
      const e = this.failNext;
      this.failNext = null;
      throw e;
    }
    const parent = this.snapshots.at(-1) ?? null;
    const s = typeof summary === 'function' ? summary(parent) : summary;
    const ref = { snapshotId: this.snapshots.length + 1, sequenceNumber: this.snapshots.length + 1, timestampMs: 0, parentId: parent?.snapshotId ?? null, summary: s };
    this.snapshots.push(ref);
    this.traceIds.push(...Array.from(batch.trace_id));
    return ref;
  }

  async currentSnapshot(): Promise<SnapshotRef | null> {
    return this.snapshots.at(-1) ?? null;
  }

  async expireDays(): Promise<SnapshotRef | null> {
    return null;
  }
}

function sink(table: AuditTable, buffer: AuditBuffer, metrics = new Metrics(), maxRowsPerCommit = 1000): AuditSink {
  return new AuditSink(table, buffer, { commitIntervalMs: 3_600_000, maxRowsPerCommit, replica: 'r1' }, { metrics, logger: silentLogger() });
}

test('the buffer turns decisions into audit columns: µs timestamps, outcome labels, duration in ns', async (t) => {
  const s = store(t);
  const buffer = new AuditBuffer(s);
  const now = 1_700_000_000_123;
  s.transaction(() => buffer.add([decided('a'.repeat(32), true, 'errors', now), decided('b'.repeat(32), false, '', now + 1)], 'host-1'));
  assert.equal(s.unsynced, true);
  const batch = (await buffer.take(10))!;
  assert.equal(s.unsynced, false, 'rows taken for a commit are on disk first');
  assert.deepEqual([batch.firstId, batch.lastId], [1, 2]);
  const c = batch.columns;
  assert.equal(c.length, 2);
  assert.deepEqual(Array.from(c.outcome), ['sampled', 'not_sampled']);
  assert.deepEqual(Array.from(c.policy), ['errors', '']);
  assert.deepEqual(Array.from(c.threshold), ['8', null]);
  assert.deepEqual(Array.from(c.decided_at), [BigInt(now) * 1000n, BigInt(now + 1) * 1000n]);
  assert.deepEqual(Array.from(c.first_seen), [BigInt(now - 30_000) * 1000n, BigInt(now + 1 - 30_000) * 1000n]);
  assert.deepEqual(Array.from(c.duration), [250_000_000n, 250_000_000n]);
  assert.deepEqual(Array.from(c.trace_bytes), [1234n, 1234n]);
  assert.deepEqual(Array.from(c.span_count), [5, 5]);
  assert.deepEqual(Array.from(c.error_count), [1, 0]);
  assert.deepEqual(Array.from(c.replica), ['host-1', 'host-1']);
});

test('decisions buffered while a batch is being made durable are left for the next batch', async (t) => {
  const s = store(t);
  const buffer = new AuditBuffer(s);
  buffer.add([decided('a'.repeat(32), true, 'p', 1)], 'r');
  const taking = buffer.take(10);
  buffer.add([decided('b'.repeat(32), false, '', 2)], 'r');
  const first = (await taking)!;
  assert.deepEqual(Array.from(first.columns.trace_id), ['a'.repeat(32)], 'the batch holds only rows its sync covers');
  assert.equal(s.unsynced, true);
  buffer.deleteThrough(first.lastId);
  assert.deepEqual(Array.from((await buffer.take(10))!.columns.trace_id), ['b'.repeat(32)]);
  assert.equal(s.unsynced, false);
});

test('buffer ids never go back, even once every row is gone; the writer id stays with the database', async (t) => {
  const s = store(t);
  const buffer = new AuditBuffer(s);
  buffer.add(ids(3).map((id) => decided(id, true, 'p', 1)), 'r');
  assert.equal(buffer.deleteThrough(3), 3);
  assert.equal(buffer.size, 0);
  buffer.add(ids(1, 3).map((id) => decided(id, true, 'p', 1)), 'r');
  assert.equal((await buffer.take(10))!.firstId, 4, 'a reused id would be taken for committed');
  assert.equal(new AuditBuffer(s).writerId, buffer.writerId);
  assert.match(buffer.writerId, /^[0-9a-f-]{36}$/);
});

test('decisions an older version buffered a row each are moved into batches, keeping their ids', async (t) => {
  const s = store(t);
  s.db.exec(`CREATE TABLE audit_pending (id INTEGER PRIMARY KEY AUTOINCREMENT, trace_id TEXT NOT NULL, decided_at INTEGER NOT NULL,
    keep INTEGER NOT NULL, policy TEXT NOT NULL, threshold TEXT, span_count INTEGER NOT NULL, error_count INTEGER NOT NULL,
    duration_ns INTEGER NOT NULL, trace_bytes INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, replica TEXT NOT NULL)`);
  const insert = s.db.prepare('INSERT INTO audit_pending VALUES (?, ?, 1000, ?, ?, ?, 3, 1, ?, 99, 900, 950, ?)');
  insert.run(4, 'a'.repeat(32), 1, 'errors', '0', 2n ** 62n, 'old');
  insert.run(7, 'b'.repeat(32), 0, '', null, 5, 'old');
  insert.run(8, 'c'.repeat(32), 1, 'slow', '1', 6, 'old');
  s.db.exec("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'audit_pending'");
  const buffer = new AuditBuffer(s);
  assert.equal(s.db.prepare("SELECT name FROM sqlite_master WHERE name = 'audit_pending'").get(), undefined);
  assert.equal(buffer.size, 3);
  const all = (await buffer.take(10))!;
  assert.deepEqual([all.firstId, all.lastId], [4, 8]);
  assert.deepEqual(Array.from(all.columns.trace_id), ['a', 'b', 'c'].map((c) => c.repeat(32)));
  assert.deepEqual(Array.from(all.columns.outcome), ['sampled', 'not_sampled', 'sampled']);
  assert.deepEqual(Array.from(all.columns.threshold), ['0', null, '1']);
  assert.deepEqual(Array.from(all.columns.duration), [2n ** 62n, 5n, 6n]);
  assert.deepEqual(Array.from(all.columns.decided_at), [1_000_000n, 1_000_000n, 1_000_000n]);
  assert.deepEqual(Array.from(all.columns.last_seen), [950_000n, 950_000n, 950_000n]);
  assert.equal(buffer.deleteThrough(7), 2, 'a commit through 7 takes 4 and 7');
  assert.deepEqual(Array.from((await buffer.take(10))!.columns.trace_id), ['c'.repeat(32)]);
  buffer.add(ids(1).map((id) => decided(id, true, 'p', 1)), 'r');
  assert.equal((await buffer.take(10))!.lastId, 10, 'ids go on after the highest the old table gave out');
});

test('audit summaries carry every writer\u2019s mark on, forget writers silent for 30 days, and set this one\u2019s', () => {
  const now = 100 * DAY;
  const parent: SnapshotRef = {
    snapshotId: 1,
    sequenceNumber: 1,
    timestampMs: 0,
    parentId: null,
    summary: {
      'tailsampler.spool-position': 'x',
      [`${AUDIT_KEY_PREFIX}me`]: `7@${now - 40 * DAY}`,
      [`${AUDIT_KEY_PREFIX}other`]: `12@${now - DAY}`,
      [`${AUDIT_KEY_PREFIX}gone`]: `3@${now - 31 * DAY}`,
    },
  };
  assert.deepEqual(auditSummary(parent, 'me', 9, now), { [`${AUDIT_KEY_PREFIX}me`]: `9@${now}`, [`${AUDIT_KEY_PREFIX}other`]: `12@${now - DAY}` });
  assert.deepEqual(auditSummary(parent, 'me', null, now), { [`${AUDIT_KEY_PREFIX}me`]: `7@${now - 40 * DAY}`, [`${AUDIT_KEY_PREFIX}other`]: `12@${now - DAY}` }, 'own mark kept however old');
  assert.equal(committedThrough(parent.summary, 'other'), 12);
  assert.equal(committedThrough(parent.summary, 'nobody'), null);
  assert.equal(committedThrough(undefined, 'me'), null);
});

test('a failed commit keeps the decisions buffered and counted; the next one commits them once', async (t) => {
  const s = store(t);
  const table = new MemoryAuditTable();
  const metrics = new Metrics();
  const buffer = new AuditBuffer(s);
  const a = sink(table, buffer, metrics);
  await a.start();
  t.after(() => a.shutdown());
  s.transaction(() => a.recording(ids(3).map((id) => decided(id, true, 'p', 1))));
  assert.equal((await metrics.auditPendingDecisions.get()).values[0]!.value, 3);
  table.failNext = new Error('catalog down');
  await assert.rejects(a.commitOnce(), /catalog down/);
  assert.equal(buffer.size, 3);
  assert.equal((await metrics.auditCommitFailures.get()).values[0]!.value, 1);
  assert.equal(await a.commitOnce(), 3);
  assert.deepEqual(table.traceIds, ids(3));
  assert.equal(buffer.size, 0);
  assert.equal(committedThrough(table.snapshots[0]!.summary, buffer.writerId), 3);
  assert.equal(table.snapshots[0]!.summary['tailsampler.audit-rows'], '3');
  assert.equal((await metrics.auditCommittedDecisions.get()).values[0]!.value, 3);
  await a.shutdown();
});

test('rows the table already holds (commit landed, delete lost) are not committed again, even without a restart', async (t) => {
  const s = store(t);
  const table = new MemoryAuditTable();
  let dieOnDelete = true;
  class Flaky extends AuditBuffer {
    override deleteThrough(id: number): number {
      if (dieOnDelete) {
        dieOnDelete = false;
        throw new Error('delete lost');
      }
      return super.deleteThrough(id);
    }
  }
  const buffer = new Flaky(s);
  const a = sink(table, buffer);
  await a.start();
  t.after(() => a.shutdown());
  s.transaction(() => a.recording(ids(2).map((id) => decided(id, false, '', 1))));
  await assert.rejects(a.commitOnce(), /delete lost/);
  assert.equal(buffer.size, 2);
  assert.equal(await a.commitOnce(), 2, 'refused by the summary check and dropped from the buffer');
  assert.equal(buffer.size, 0);
  assert.equal(table.snapshots.length, 1);
  assert.deepEqual(table.traceIds, ids(2));
  s.transaction(() => a.recording(ids(1, 2).map((id) => decided(id, true, 'p', 1))));
  await a.drain();
  assert.deepEqual(table.traceIds, ids(3), 'later decisions still go in');
  await a.shutdown();
});

test('a large buffer is committed in batches of maxRowsPerCommit, each snapshot marking its last id; shutdown commits the rest', async (t) => {
  const s = store(t);
  const table = new MemoryAuditTable();
  const buffer = new AuditBuffer(s);
  const a = sink(table, buffer, new Metrics(), 4);
  await a.start();
  t.after(() => a.shutdown());
  s.transaction(() => a.recording(ids(10).map((id) => decided(id, true, 'p', 1))));
  await a.shutdown();
  assert.deepEqual(table.snapshots.map((x) => committedThrough(x.summary, buffer.writerId)), [4, 8, 10]);
  assert.deepEqual(table.traceIds, ids(10));
  assert.equal(buffer.size, 0);
});

test('the buffer carries int64 extremes to the audit columns bit for bit', async (t) => {
  const s = store(t);
  const buffer = new AuditBuffer(s);
  const d = decided('c'.repeat(32), true, 'errors', -5);
  d.summary.minStartNs = -(2n ** 63n);
  d.summary.maxEndNs = -1n;
  d.summary.bytes = 2 ** 52;
  d.summary.firstSeenMs = 4_000_000_000_000;
  s.transaction(() => buffer.add([d], 'r'));
  const c = (await buffer.take(1))!.columns;
  assert.deepEqual(Array.from(c.duration), [2n ** 63n - 1n]);
  assert.deepEqual(Array.from(c.decided_at), [-5000n]);
  assert.deepEqual(Array.from(c.trace_bytes), [2n ** 52n]);
  assert.deepEqual(Array.from(c.first_seen), [4_000_000_000_000_000n]);
});

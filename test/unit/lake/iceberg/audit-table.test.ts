import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../../../../src/config/schema.ts';
import type { AuditColumns } from '../../../../src/lake/audit-schema.ts';
import { createAuditTable } from '../../../../src/lake/factory.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';

const DAY = 86_400_000;

function rows(decidedAtMs: readonly number[]): AuditColumns {
  const n = decidedAtMs.length;
  const us = BigInt64Array.from(decidedAtMs, (ms) => BigInt(ms) * 1000n);
  return {
    length: n,
    trace_id: decidedAtMs.map((_, i) => i.toString(16).padStart(32, '0')),
    decided_at: us,
    outcome: decidedAtMs.map(() => 'not_sampled'),
    policy: decidedAtMs.map(() => ''),
    threshold: decidedAtMs.map(() => null),
    span_count: new Int32Array(n).fill(1),
    error_count: new Int32Array(n),
    duration: new BigInt64Array(n),
    trace_bytes: new BigInt64Array(n),
    first_seen: us,
    last_seen: us,
    replica: decidedAtMs.map(() => 'r'),
  };
}

test('the audit table: one file per day(decided_at), created in the span table\u2019s catalog, and retention drops its old days', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-audit-table-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const storage = configSchema.parse({
    storage: { catalog: { uri: join(dir, 'catalog.db'), warehouse: join(dir, 'warehouse') }, retention_days: 2, audit_table: { namespace: 'audit_ns' } },
  }).storage;
  const { table, close } = await createAuditTable(storage, storage.audit_table!, { logger: silentLogger() });
  t.after(close);
  const now = Date.UTC(2026, 11, 10, 12);
  const appended = await table.append(rows([now - 5 * DAY, now - 5 * DAY + 1, now - DAY, now]), { 'tailsampler.audit.w': '4@0' });
  assert.equal(appended.summary['added-data-files'], '3', 'one file per day');
  assert.equal(appended.summary['changed-partition-count'], '3');
  assert.equal(appended.summary['added-records'], '4');
  const expired = await table.expireDays(now, (parent) => ({ 'tailsampler.audit.w': parent!.summary['tailsampler.audit.w']! }));
  assert.equal(expired?.summary.operation, 'delete');
  assert.equal(expired?.summary['deleted-records'], '2', 'the day five days back went');
  assert.equal(expired?.summary['total-records'], '2');
  assert.equal(expired?.summary['tailsampler.audit.w'], '4@0', 'the mark carried on');
  assert.equal(await table.expireDays(now, {}), null, 'nothing else is that old');
  const reopened = await createAuditTable(storage, storage.audit_table!, { logger: silentLogger() });
  assert.equal((await reopened.table.currentSnapshot())?.snapshotId, expired.snapshotId, 'reopened, not created again');
  await reopened.close();
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalFileIO, toFileUri } from '../../../../src/lake/file-io.ts';
import type { Catalog, TableIdentifier, TableRequirement, TableUpdate } from '../../../../src/lake/iceberg/catalog.ts';
import { CatalogUnavailableError, CommitStateUnknownError } from '../../../../src/lake/iceberg/errors.ts';
import { openIcebergSpanTable } from '../../../../src/lake/iceberg/iceberg-table.ts';
import { SqlCatalog } from '../../../../src/lake/iceberg/sql-catalog.ts';
import { silentLogger } from '../../../../src/telemetry/logger.ts';
import { spanBatch } from './span-batch-fixture.ts';

const id = { namespace: 'observability', name: 'otel_spans' };

/**
 * The SQL catalog behind a faulty link: the next commit's answer is lost after the catalog applied it
 * (`applied`) or before it reached the catalog (`dropped`); both surface as CommitStateUnknownError,
 * as the REST client reports a 5xx or timeout during commit.
 */
class LossyCatalog implements Catalog {
  readonly inner: SqlCatalog;
  next: 'ok' | 'applied' | 'dropped' = 'ok';
  commits = 0;
  /** Table loads that fail (catalog unreachable) before they answer again. */
  failLoads = 0;
  loads = 0;
  constructor(inner: SqlCatalog) {
    this.inner = inner;
  }
  loadTable(t: TableIdentifier) {
    this.loads++;
    if (this.failLoads > 0) {
      this.failLoads--;
      return Promise.reject(new CatalogUnavailableError('injected: catalog unreachable'));
    }
    return this.inner.loadTable(t);
  }
  createTable(t: TableIdentifier, r: Parameters<Catalog['createTable']>[1]) {
    return this.inner.createTable(t, r);
  }
  async commitTable(t: TableIdentifier, req: readonly TableRequirement[], upd: readonly TableUpdate[]) {
    this.commits++;
    const fault = this.next;
    this.next = 'ok';
    if (fault === 'dropped') throw new CommitStateUnknownError('injected: 503 before the catalog saw it');
    const result = await this.inner.commitTable(t, req, upd);
    if (fault === 'applied') throw new CommitStateUnknownError('injected: 504 after the catalog applied it');
    return result;
  }
  close() {
    return this.inner.close();
  }
}

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'reconcile-'));
  const io = new LocalFileIO();
  const catalog = new LossyCatalog(new SqlCatalog({ path: join(dir, 'catalog.db'), name: 'default', io, logger: silentLogger() }));
  const table = await openIcebergSpanTable({
    catalog, io, id, location: `${toFileUri(join(dir, 'wh'))}/observability.db/otel_spans`, maxSnapshots: 10, rowGroupSize: 50, logger: silentLogger(),
  });
  return { catalog, table };
}

test('a commit applied but answered with "state unknown" is found in the table, not committed twice', async () => {
  const { catalog, table } = await setup();
  await table.append(spanBatch({ traces: 4, spansPerTrace: 2, seed: 1 }), { n: '1' });
  catalog.next = 'applied';
  const before = catalog.commits;
  const ref = await table.append(spanBatch({ traces: 4, spansPerTrace: 2, seed: 2 }), { n: '2' });
  assert.equal(catalog.commits - before, 1, 'no second commit: the reload showed the snapshot');
  const loaded = (await catalog.inner.loadTable(id))!;
  assert.deepEqual(loaded.metadata.snapshots!.map((s) => s.summary.n), ['1', '2']);
  assert.equal(loaded.metadata['current-snapshot-id'], ref.snapshotId);
  // The manifest list the landed snapshot points at was kept (a rejected commit's would be deleted).
  const list = loaded.metadata.snapshots!.find((s) => s['snapshot-id'] === ref.snapshotId)!['manifest-list'];
  assert.ok(existsSync(fileURLToPath(list)));
  const changes = await table.changesSince(0);
  assert.equal(changes.files.reduce((n, f) => n + f.recordCount, 0), 16);
  await catalog.close();
});

test('a commit that never reached the catalog is committed again after the reload shows it missing', async () => {
  const { catalog, table } = await setup();
  catalog.next = 'dropped';
  const ref = await table.append(spanBatch({ traces: 3, spansPerTrace: 2, seed: 3 }), { n: '1' });
  assert.equal(catalog.commits, 2);
  const loaded = (await catalog.inner.loadTable(id))!;
  assert.equal(loaded.metadata.snapshots!.length, 1);
  assert.equal(loaded.metadata['current-snapshot-id'], ref.snapshotId);
  assert.equal((await table.changesSince(0)).files.reduce((n, f) => n + f.recordCount, 0), 6);
  await catalog.close();
});

test('reloads that fail while reconciling are retried with backoff until the catalog answers', async () => {
  const { catalog, table } = await setup();
  await table.append(spanBatch({ traces: 2, spansPerTrace: 2, seed: 4 }), { n: '1' });
  catalog.next = 'applied';
  catalog.failLoads = 2;
  const commitsBefore = catalog.commits;
  const loadsBefore = catalog.loads;
  const started = Date.now();
  const ref = await table.append(spanBatch({ traces: 2, spansPerTrace: 2, seed: 5 }), { n: '2' });
  assert.equal(catalog.commits - commitsBefore, 1, 'found on the third reload: not committed twice');
  assert.equal(catalog.loads - loadsBefore, 3);
  assert.ok(Date.now() - started >= 700, 'waited 250 + 500 ms between the reloads');
  assert.equal((await catalog.inner.loadTable(id))!.metadata['current-snapshot-id'], ref.snapshotId);
  await catalog.close();
});

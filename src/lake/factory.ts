import { resolve } from 'node:path';
import type { StorageConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { createFileIO, warehouseUri } from './file-io-factory.ts';
import { openOwnedSpanTable, tableOptionsFromConfig } from './iceberg/iceberg-table.ts';
import { openOwnedAuditTable, type OpenedAuditTable } from './iceberg/audit-table.ts';
import { createRestSpanTable, openRestCatalog } from './iceberg/rest-span-table.ts';
import { SqlCatalog } from './iceberg/sql-catalog.ts';
import type { OpenedSpanTable } from './table.ts';

/** Accepts a plain path or SQLAlchemy's `sqlite:///path` spelling (what pyiceberg users write). */
function sqlitePath(uri: string): string {
  const m = /^sqlite:\/\/\/(.*)$/.exec(uri);
  return resolve(process.cwd(), m ? m[1]! : uri);
}

/**
 * Builds the span table from config: the embedded SQL catalog; table files on local disk or, for an
 * `s3://bucket/prefix` warehouse, on S3 (`storage.s3`). The table lives at
 * `<warehouse>/<namespace>.db/<name>`, where pyiceberg's SqlCatalog would put it by default.
 * `storage.catalog.type: rest` → an Iceberg REST catalog, which places the table itself.
 */
export async function createSpanTable(
  config: StorageConfig,
  deps: { logger: Logger; metrics?: Metrics },
): Promise<OpenedSpanTable> {
  if (config.catalog.type === 'rest') return createRestSpanTable(config, config.catalog, deps);
  const io = createFileIO(config, deps);
  const logger = deps.logger.child({ component: 'iceberg' });
  const catalog = new SqlCatalog({ path: sqlitePath(config.catalog.uri), name: config.catalog.name, io, logger });
  const warehouse = warehouseUri(config.catalog.warehouse);
  const { namespace, name } = config.table;
  return openOwnedSpanTable({
    catalog,
    io,
    id: { namespace, name },
    location: `${warehouse}/${namespace}.db/${name}`,
    ...tableOptionsFromConfig(config),
    logger,
  });
}

/**
 * Opens the decision audit table (`storage.audit_table`, not null) beside the span table: same catalog
 * and warehouse, its own catalog connection (written even when another writer fills the span table),
 * and the span table's upkeep (snapshot expiry, retention, manifest merging).
 */
export async function createAuditTable(
  config: StorageConfig,
  audit: NonNullable<StorageConfig['audit_table']>,
  deps: { logger: Logger; metrics?: Metrics },
): Promise<OpenedAuditTable> {
  const logger = deps.logger.child({ component: 'iceberg', table: 'audit' });
  const id = { namespace: audit.namespace ?? config.table.namespace, name: audit.name };
  const { external: _external, ...upkeep } = tableOptionsFromConfig(config);
  if (config.catalog.type === 'rest') {
    const { catalog, io } = await openRestCatalog(config.catalog, config.s3, id, { ...deps, logger }, false);
    return openOwnedAuditTable({ catalog, io, id, location: '', ...upkeep, logger });
  }
  const io = createFileIO(config, deps);
  const catalog = new SqlCatalog({ path: sqlitePath(config.catalog.uri), name: config.catalog.name, io, logger });
  const location = `${warehouseUri(config.catalog.warehouse)}/${id.namespace}.db/${id.name}`;
  return openOwnedAuditTable({ catalog, io, id, location, ...upkeep, logger });
}

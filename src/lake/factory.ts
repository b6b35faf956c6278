import { resolve } from 'node:path';
import type { StorageConfig } from '../config/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { LocalFileIO, toFileUri } from './file-io.ts';
import { openIcebergSpanTable } from './iceberg/iceberg-table.ts';
import { SqlCatalog } from './iceberg/sql-catalog.ts';
import type { SpanTable } from './table.ts';

/** Accepts a plain path or SQLAlchemy's `sqlite:///path` spelling (what pyiceberg users write). */
function sqlitePath(uri: string): string {
  const m = /^sqlite:\/\/\/(.*)$/.exec(uri);
  return resolve(process.cwd(), m ? m[1]! : uri);
}

/**
 * Builds the span table from config: the embedded SQL catalog on local files. The table lives at
 * `<warehouse>/<namespace>.db/<name>`, where pyiceberg's SqlCatalog would put it by default.
 */
export async function createSpanTable(
  config: StorageConfig,
  deps: { logger: Logger },
): Promise<{ table: SpanTable; close(): Promise<void> }> {
  const io = new LocalFileIO();
  const logger = deps.logger.child({ component: 'iceberg' });
  const catalog = new SqlCatalog({ path: sqlitePath(config.catalog.uri), name: config.catalog.name, io, logger });
  const warehouse = config.catalog.warehouse.startsWith('file:')
    ? config.catalog.warehouse.replace(/\/+$/, '')
    : toFileUri(resolve(process.cwd(), config.catalog.warehouse));
  const { namespace, name } = config.table;
  try {
    const table = await openIcebergSpanTable({
      catalog,
      io,
      id: { namespace, name },
      location: `${warehouse}/${namespace}.db/${name}`,
      maxSnapshots: config.max_snapshots,
      rowGroupSize: config.row_group_size,
      logger,
    });
    return { table, close: () => catalog.close() };
  } catch (e) {
    await catalog.close();
    throw e;
  }
}

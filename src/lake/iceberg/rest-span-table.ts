import type { StorageConfig } from '../../config/schema.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { LocalFileIO } from '../file-io.ts';
import { RoutingFileIO } from '../file-io-router.ts';
import { S3FileIO, s3OptionsFromConfig, s3OptionsFromProperties } from '../s3-file-io.ts';
import type { OpenedSpanTable } from '../table.ts';
import { openOwnedSpanTable, tableOptionsFromConfig } from './iceberg-table.ts';
import type { TableIdentifier } from './catalog.ts';
import { RestCatalog } from './rest-catalog.ts';
import type { RestCatalogConfig } from './rest-config.ts';

/**
 * A REST catalog connection and the FileIO for one of its tables: `storage.s3`, overlaid with what the
 * catalog hands out (its config properties, the table's load-table `config` and `storage-credentials`,
 * i.e. vended credentials). The S3 client is made on first use, after the table was loaded or created.
 */
export async function openRestCatalog(
  catalogConfig: RestCatalogConfig,
  s3: StorageConfig['s3'],
  id: TableIdentifier,
  deps: { logger: Logger; metrics?: Metrics },
  readOnly: boolean,
): Promise<{ catalog: RestCatalog; io: RoutingFileIO }> {
  const catalog = await RestCatalog.open({
    uri: catalogConfig.uri,
    warehouse: catalogConfig.warehouse ?? undefined,
    prefix: catalogConfig.prefix ?? undefined,
    token: catalogConfig.token ?? undefined,
    credential: catalogConfig.credential ?? undefined,
    oauth2ServerUri: catalogConfig.oauth2_server_uri ?? undefined,
    scope: catalogConfig.scope,
    headers: catalogConfig.headers,
    vendedCredentials: catalogConfig.vended_credentials,
    requestTimeoutMs: catalogConfig.request_timeout_ms,
    logger: deps.logger,
    readOnly,
  });
  const s3Defaults = s3OptionsFromConfig(s3);
  const io = new RoutingFileIO({
    local: new LocalFileIO(),
    s3: () =>
      new S3FileIO(
        s3OptionsFromProperties(catalog.fileIOProperties(id), s3Defaults),
        deps.metrics ? { metrics: deps.metrics } : {},
      ),
  });
  return { catalog, io };
}

/** The span table through an Iceberg REST catalog. The catalog places the table (no location is sent). */
export async function createRestSpanTable(
  config: StorageConfig,
  catalogConfig: RestCatalogConfig,
  deps: { logger: Logger; metrics?: Metrics },
): Promise<OpenedSpanTable> {
  const logger = deps.logger.child({ component: 'iceberg' });
  const { namespace, name } = config.table;
  const id = { namespace, name };
  const { catalog, io } = await openRestCatalog(catalogConfig, config.s3, id, { ...deps, logger }, config.materializer === 'external');
  return openOwnedSpanTable({
    catalog,
    io,
    id,
    location: '',
    ...tableOptionsFromConfig(config),
    logger,
  });
}

import { DatabaseSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FileIO } from '../file-io.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Catalog, CreateTableRequest, LoadedTable, TableIdentifier, TableRequirement, TableUpdate } from './catalog.ts';
import { CommitConflictError, InvalidMetadataError, TableAlreadyExistsError } from './errors.ts';
import { metadataFileLocation, metadataVersion, newTableMetadata, type TableMetadata } from './metadata.ts';
import { applyUpdates, checkRequirements } from './metadata-updates.ts';

/**
 * The Iceberg JDBC catalog on an embedded SQLite file, with the tables exactly as Java's
 * JdbcCatalog (schema V1) and pyiceberg's SqlCatalog create them, so either can open the same file.
 * The table's state is a pointer to its current metadata JSON; commits move it with a
 * compare-and-swap UPDATE, which is what makes concurrent writers safe.
 */

const TABLE_TYPE = 'TABLE';
const BUSY_TIMEOUT_MS = 10_000;

const CREATE_TABLES = `
CREATE TABLE IF NOT EXISTS iceberg_tables (
  catalog_name VARCHAR(255) NOT NULL,
  table_namespace VARCHAR(255) NOT NULL,
  table_name VARCHAR(255) NOT NULL,
  metadata_location VARCHAR(1000),
  previous_metadata_location VARCHAR(1000),
  iceberg_type VARCHAR(5),
  PRIMARY KEY (catalog_name, table_namespace, table_name)
);
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
  catalog_name VARCHAR(255) NOT NULL,
  namespace VARCHAR(255) NOT NULL,
  property_key VARCHAR(255) NOT NULL,
  property_value VARCHAR(1000) NOT NULL,
  PRIMARY KEY (catalog_name, namespace, property_key)
);`;

export interface SqlCatalogOptions {
  /** SQLite database file (created when absent). */
  path: string;
  /** `catalog_name` in the JDBC tables. */
  name: string;
  io: FileIO;
  logger: Logger;
}

function isConstraintError(e: unknown): boolean {
  const errcode = (e as { errcode?: unknown }).errcode;
  return typeof errcode === 'number' && (errcode & 0xff) === 19; // SQLITE_CONSTRAINT
}

export class SqlCatalog implements Catalog {
  readonly name: string;
  private readonly db: DatabaseSync;
  private readonly io: FileIO;
  private readonly logger: Logger;
  /** Databases created by older JdbcCatalog/pyiceberg versions lack the iceberg_type column (schema V0). */
  private readonly hasTypeColumn: boolean;

  constructor(options: SqlCatalogOptions) {
    this.name = options.name;
    this.io = options.io;
    this.logger = options.logger;
    mkdirSync(dirname(options.path), { recursive: true });
    this.db = new DatabaseSync(options.path, { timeout: BUSY_TIMEOUT_MS });
    // WAL lets readers (pyiceberg, the exporter) read while a commit writes.
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.db.exec(CREATE_TABLES);
    const columns = this.db.prepare('PRAGMA table_info(iceberg_tables)').all() as { name: string }[];
    this.hasTypeColumn = columns.some((c) => c.name === 'iceberg_type');
  }

  private currentLocation(id: TableIdentifier): string | null {
    const typeFilter = this.hasTypeColumn ? ` AND (iceberg_type = '${TABLE_TYPE}' OR iceberg_type IS NULL)` : '';
    const row = this.db
      .prepare(
        `SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?${typeFilter}`,
      )
      .get(this.name, id.namespace, id.name) as { metadata_location: string | null } | undefined;
    return row?.metadata_location ?? null;
  }

  private async readMetadata(location: string): Promise<TableMetadata> {
    const text = Buffer.from(await this.io.read(location)).toString('utf8');
    const metadata = JSON.parse(text) as TableMetadata;
    if (metadata['format-version'] !== 2) {
      throw new InvalidMetadataError(`${location}: format-version ${String(metadata['format-version'])} is not supported (need 2)`);
    }
    return metadata;
  }

  async loadTable(id: TableIdentifier): Promise<LoadedTable | null> {
    const metadataLocation = this.currentLocation(id);
    if (metadataLocation === null) return null;
    return { metadataLocation, metadata: await this.readMetadata(metadataLocation) };
  }

  private ensureNamespace(namespace: string): void {
    // pyiceberg and Java mark a namespace as existing with this one property row.
    this.db
      .prepare(
        `INSERT OR IGNORE INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value) VALUES (?, ?, 'exists', 'true')`,
      )
      .run(this.name, namespace);
  }

  async createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadedTable> {
    if (this.currentLocation(id) !== null) throw new TableAlreadyExistsError(`table ${id.namespace}.${id.name} already exists`);
    const metadata = newTableMetadata(request);
    const metadataLocation = metadataFileLocation(metadata.location, 0);
    await this.io.write(metadataLocation, Buffer.from(JSON.stringify(metadata), 'utf8'));
    try {
      this.ensureNamespace(id.namespace);
      const cols = 'catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location';
      if (this.hasTypeColumn) {
        this.db
          .prepare(`INSERT INTO iceberg_tables (${cols}, iceberg_type) VALUES (?, ?, ?, ?, NULL, ?)`)
          .run(this.name, id.namespace, id.name, metadataLocation, TABLE_TYPE);
      } else {
        this.db.prepare(`INSERT INTO iceberg_tables (${cols}) VALUES (?, ?, ?, ?, NULL)`).run(this.name, id.namespace, id.name, metadataLocation);
      }
    } catch (e) {
      await this.io.delete(metadataLocation).catch(() => undefined);
      if (isConstraintError(e)) throw new TableAlreadyExistsError(`table ${id.namespace}.${id.name} already exists`, { cause: e });
      throw e;
    }
    this.logger.info({ table: `${id.namespace}.${id.name}`, metadataLocation }, 'created iceberg table');
    return { metadataLocation, metadata };
  }

  async commitTable(
    id: TableIdentifier,
    requirements: readonly TableRequirement[],
    updates: readonly TableUpdate[],
  ): Promise<LoadedTable> {
    const base = await this.loadTable(id);
    checkRequirements(base?.metadata ?? null, requirements);
    if (base === null) throw new CommitConflictError(`table ${id.namespace}.${id.name} does not exist`);
    const next = applyUpdates(base.metadata, base.metadataLocation, updates);
    const metadataLocation = metadataFileLocation(next.location, metadataVersion(base.metadataLocation) + 1);
    await this.io.write(metadataLocation, Buffer.from(JSON.stringify(next), 'utf8'));
    const result = this.db
      .prepare(
        `UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
         WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?`,
      )
      .run(metadataLocation, base.metadataLocation, this.name, id.namespace, id.name, base.metadataLocation);
    if (Number(result.changes) !== 1) {
      // Lost the race: the file we wrote is referenced by nothing.
      await this.io.delete(metadataLocation).catch(() => undefined);
      throw new CommitConflictError(`table ${id.namespace}.${id.name} changed during commit (metadata moved past ${base.metadataLocation})`);
    }
    await this.deleteDroppedMetadata(base.metadata, next);
    return { metadataLocation, metadata: next };
  }

  /** Metadata files that fell off metadata-log are no longer reachable from any pointer: delete them. */
  private async deleteDroppedMetadata(before: TableMetadata, after: TableMetadata): Promise<void> {
    if (after.properties['write.metadata.delete-after-commit.enabled'] !== 'true') return;
    const kept = new Set((after['metadata-log'] ?? []).map((e) => e['metadata-file']));
    for (const e of before['metadata-log'] ?? []) {
      if (kept.has(e['metadata-file'])) continue;
      await this.io.delete(e['metadata-file']).catch((err: unknown) => {
        this.logger.warn({ err, file: e['metadata-file'] }, 'could not delete old metadata file');
      });
    }
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

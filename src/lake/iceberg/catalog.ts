import type { IcebergSchema, PartitionSpec, Snapshot, SortOrder, TableMetadata } from './metadata.ts';

/**
 * A catalog shaped like the Iceberg REST catalog (OpenAPI: loadTable, createTable, commitTable with
 * TableRequirement / TableUpdate). Requirement and update objects use the REST JSON spelling so a
 * REST implementation can send them unchanged.
 */

export interface TableIdentifier {
  namespace: string;
  name: string;
}

/** A REST catalog's `StorageCredential`: FileIO properties for locations under `prefix`. */
export interface StorageCredential {
  prefix: string;
  config: Record<string, string>;
}

export interface LoadedTable {
  metadataLocation: string;
  metadata: TableMetadata;
  /** REST load-table `config`: table-level FileIO/client properties (e.g. vended `s3.*` keys). */
  config?: Record<string, string>;
  /** REST load-table `storage-credentials`, preferred over `config` for their prefixes. */
  storageCredentials?: StorageCredential[];
}

export interface CreateTableRequest {
  schema: IcebergSchema;
  partitionSpec: PartitionSpec;
  sortOrder: SortOrder;
  location: string;
  properties: Record<string, string>;
}

export type TableRequirement =
  | { type: 'assert-create' }
  | { type: 'assert-table-uuid'; uuid: string }
  | { type: 'assert-ref-snapshot-id'; ref: string; 'snapshot-id': number | null }
  | { type: 'assert-last-assigned-field-id'; 'last-assigned-field-id': number }
  | { type: 'assert-current-schema-id'; 'current-schema-id': number }
  | { type: 'assert-last-assigned-partition-id'; 'last-assigned-partition-id': number }
  | { type: 'assert-default-spec-id'; 'default-spec-id': number }
  | { type: 'assert-default-sort-order-id'; 'default-sort-order-id': number };

export type TableUpdate =
  | { action: 'add-snapshot'; snapshot: Snapshot }
  | {
      action: 'set-snapshot-ref';
      'ref-name': string;
      type: 'branch' | 'tag';
      'snapshot-id': number;
    }
  | { action: 'remove-snapshots'; 'snapshot-ids': number[] }
  | { action: 'set-properties'; updates: Record<string, string> };

export interface Catalog {
  /** The table's current metadata, or null when the catalog has no such table. */
  loadTable(id: TableIdentifier): Promise<LoadedTable | null>;
  /** Creates the table (and its namespace when absent); TS_CATALOG_TABLE_EXISTS if it exists. */
  createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadedTable>;
  /**
   * Applies `updates` atomically if every requirement holds against the current metadata. A failed
   * requirement or a lost race is a retryable TS_CATALOG_COMMIT_CONFLICT.
   */
  commitTable(id: TableIdentifier, requirements: readonly TableRequirement[], updates: readonly TableUpdate[]): Promise<LoadedTable>;
  close(): Promise<void>;
}

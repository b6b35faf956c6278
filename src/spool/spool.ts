import type { Component } from '../component.ts';
import { TailsamplerError } from '../errors.ts';
import type { KafkaMetadata } from '../lake/span-schema.ts';

/**
 * A position in the spool, opaque to everyone but the spool (for the local spool a segment and byte
 * offset; for Kafka a map of partition offsets). It is stored in the Iceberg snapshot summary so the
 * table itself records how far the spool was materialized.
 */
export type SpoolPosition = string;

export interface SpoolRecord {
  /** Position just past this record: committing it means this record and all before it are in the table. */
  next: SpoolPosition;
  /** An OTLP ExportTraceServiceRequest, protobuf-encoded. */
  payload: Uint8Array;
  /** The Kafka record it came in (Kafka spool), set on its spans' `_kafka_metadata`. */
  kafka?: KafkaMetadata;
  /** When it reached this service, ms since epoch, where the spool knows (the Kafka record timestamp otherwise). */
  receivedMs?: number;
}

/**
 * Durable buffer between the receivers and the materializer. `append` resolves only once the
 * payloads survive a crash; `release` lets the spool drop what the table now holds.
 */
export interface Spool extends Component {
  /** Appends payloads durably (batched fsync). Rejects with PipelineBusyError when too far behind. */
  append(payloads: readonly Uint8Array[]): Promise<void>;
  /**
   * Reads records after `from` (null: from the oldest retained record), up to about `maxBytes` of payload.
   * Returns an empty list when there is nothing new.
   */
  read(from: SpoolPosition | null, maxBytes: number): Promise<SpoolRecord[]>;
  /**
   * The position a table commit of the records read from `from` up to `to` records, given
   * `committed`, the position of the snapshot it is committed on top of. Several writers (replicas)
   * may commit to one table: each advances only what it read. Throws SpoolPositionConflictError when
   * `committed` shows another writer already committed part of that range (its rows would be
   * duplicates): the commit is refused and the reader starts again from the table's position.
   */
  commitPosition(committed: SpoolPosition | null, from: SpoolPosition | null, to: SpoolPosition): SpoolPosition;
  /** Everything up to `upTo` is committed to the table; the spool may delete it. */
  release(upTo: SpoolPosition): Promise<void>;
  /** Bytes appended but not yet released (what the materializer still has to do). */
  pendingBytes(): number;
}

/** Another writer committed records this one read (it took over their partitions): re-read from the table. */
export class SpoolPositionConflictError extends TailsamplerError {
  constructor(message: string) {
    super('TS_SPOOL_POSITION_CONFLICT', message);
    this.name = 'SpoolPositionConflictError';
  }
}

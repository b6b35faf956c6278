import { z } from 'zod';

/** Config pieces every queued exporter shares (the Collector's exporterhelper settings). */

export const positiveInt = z.number().int().positive();

export const retrySchema = z
  .object({
    enabled: z.boolean().default(true),
    initial_interval_ms: positiveInt.default(5_000),
    max_interval_ms: positiveInt.default(30_000),
    max_elapsed_time_ms: z.number().int().min(0).default(300_000),
  })
  .strict()
  .prefault({});

export const queueSchema = z
  .object({
    /** Requests held in memory while the destination is slow. */
    queue_size: positiveInt.default(100),
    /** Requests sent at once. */
    num_consumers: positiveInt.default(4),
    /**
     * Kept traces waiting for this exporter (durably, as trace ids: their spans stay in the table).
     * Past this, newly kept traces go to the dead-letter list with reason `backlog_full`.
     */
    max_backlog_traces: positiveInt.default(1_000_000),
  })
  .strict()
  .prefault({});

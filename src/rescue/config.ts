import { z } from 'zod';

/** Rescue of traces from the lake (`POST /v1/rescue`, `tailsampler rescue`): how much one request may ask for. */
export const rescueSchema = z
  .object({
    /** Traces a query rescues when the request gives no `limit`. */
    default_limit: z.number().int().positive().default(100),
    /** Most trace ids one request may name, and the highest `limit` a query may ask for. */
    max_traces: z.number().int().positive().max(100_000).default(10_000),
    /** Rescue jobs searching or waiting to search at once; more → 429. */
    max_jobs: z.number().int().positive().default(4),
    /** How long `POST /v1/rescue` waits for the search to finish and answer 200 before answering 202. */
    sync_wait_ms: z.number().int().min(0).default(2_000),
    /** Finished jobs whose records are kept (oldest forgotten first). */
    job_history: z.number().int().positive().default(100),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.default_limit > c.max_traces) ctx.addIssue({ code: 'custom', path: ['default_limit'], message: `must be at most max_traces (${c.max_traces})` });
  })
  .prefault({});

export type RescueConfig = z.infer<typeof rescueSchema>;

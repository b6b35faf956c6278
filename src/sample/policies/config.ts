import { z } from 'zod';

/**
 * The otelcol tail_sampling `policies:` list. Placeholder shape; the policies module replaces it with
 * the full per-type schema.
 */
export const policyListSchema = z.array(z.object({ name: z.string().min(1), type: z.string().min(1) }).loose());
export type PolicyConfig = z.infer<typeof policyListSchema>[number];

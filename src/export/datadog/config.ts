import { z } from 'zod';
import { positiveInt, queueSchema, retrySchema } from '../queue-config.ts';

/** A Datadog site: datadoghq.com, us3.datadoghq.com, datadoghq.eu, ddog-gov.com, ... */
const site = z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, 'must be a Datadog site such as datadoghq.com');

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL');

/**
 * Agentless: traces go straight to Datadog's intake (`<endpoint>/api/v0.2/traces`, a gzipped
 * protobuf AgentPayload) with an API key, instead of through a Datadog Agent.
 */
const apiSchema = z
  .object({
    /** The API key, sent as `DD-API-KEY`; write `${DD_API_KEY}`. Never logged. */
    key: z.string().min(1, 'must be the Datadog API key (write "${DD_API_KEY}")'),
    site: site.default('datadoghq.com'),
    /** The trace intake's base URL; null → `https://trace.agent.<site>`. */
    endpoint: httpUrl.nullable().default(null),
  })
  .strict();

export const datadogExporterSchema = z
  .object({
    /** A Datadog Agent's trace receiver: `PUT <endpoint>/v0.4/traces` (msgpack). Unused when `api` is set. */
    endpoint: httpUrl.default('http://localhost:8126'),
    /** Agentless intake with an API key; null → through the Agent at `endpoint`. */
    api: apiSchema.nullable().default(null),
    /**
     * APM stats (hits, errors, latency) are computed here from every committed span, before sampling,
     * and sent to the Agent's `/v0.6/stats` (src/export/datadog/stats); the Agent is told so
     * (`Datadog-Client-Computed-Stats: yes`) and does not compute them from the kept traces, which
     * would under-count. Through an Agent only (ignored, with a warning, agentless).
     */
    apm_stats: z.boolean().default(false),
    timeout_ms: positiveInt.default(10_000),
    retry_on_failure: retrySchema,
    sending_queue: queueSchema,
    /** Spans per request handed to the exporter. */
    max_batch_spans: positiveInt.default(8192),
    /**
     * Largest payload sent at once (msgpack bytes to the Agent; protobuf bytes before gzip agentless):
     * a bigger request is split, between traces when it can be, else inside a trace.
     */
    max_request_bytes: positiveInt.default(3_200_000),
  })
  .strict();

export type DatadogExporterConfig = z.infer<typeof datadogExporterSchema>;

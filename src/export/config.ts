import { z } from 'zod';
import { datadogExporterSchema, type DatadogExporterConfig } from './datadog/config.ts';
import { positiveInt, queueSchema, retrySchema } from './queue-config.ts';

export const otlpExporterSchema = z
  .object({
    endpoint: z.string().url().default('http://localhost:4318'),
    protocol: z.enum(['http/protobuf', 'grpc']).default('http/protobuf'),
    headers: z.record(z.string(), z.string()).default({}),
    compression: z.enum(['gzip', 'none']).default('gzip'),
    timeout_ms: positiveInt.default(10_000),
    retry_on_failure: retrySchema,
    sending_queue: queueSchema,
    /** Spans per request. */
    max_batch_spans: positiveInt.default(8192),
  })
  .strict();

export const debugExporterSchema = z
  .object({ verbosity: z.enum(['basic', 'normal', 'detailed']).default('basic') })
  .strict();

export type OtlpExporterConfig = z.infer<typeof otlpExporterSchema>;
export type DebugExporterConfig = z.infer<typeof debugExporterSchema>;
export type RetryConfig = OtlpExporterConfig['retry_on_failure'];
export type { DatadogExporterConfig };

/** Each exporter type's own config section; a component id is `type` or `type/name`, as in the Collector. */
export const EXPORTER_SCHEMAS = { otlp: otlpExporterSchema, datadog: datadogExporterSchema, debug: debugExporterSchema } as const;
export type ExporterType = keyof typeof EXPORTER_SCHEMAS;

/** One configured exporter: its component id, its type and its validated section. */
export type ExporterConfig =
  | { id: string; type: 'otlp'; config: OtlpExporterConfig }
  | { id: string; type: 'datadog'; config: DatadogExporterConfig }
  | { id: string; type: 'debug'; config: DebugExporterConfig };

const ID = /^([a-z_]+)(?:\/([A-Za-z0-9_.-]+))?$/;

/**
 * The `exporters` section: a map from component id (`otlp`, `otlp/backup`, `datadog`, `debug`) to
 * that type's settings (`{}` for all defaults; `null` switches an exporter off, as
 * `receivers.otlp.grpc: null` does). Each section is checked by its type's schema and every problem reported under its id's path.
 * Without the section, the debug exporter prints kept traces.
 */
export const exportersSchema = z
  .record(z.string(), z.unknown())
  .default({ debug: {} })
  .transform((sections, ctx): ExporterConfig[] => {
    const out: ExporterConfig[] = [];
    for (const [id, section] of Object.entries(sections)) {
      const type = ID.exec(id)?.[1];
      if (type === undefined || !(type in EXPORTER_SCHEMAS)) {
        ctx.issues.push({
          code: 'custom',
          path: [id],
          input: section,
          message: `unknown exporter ${JSON.stringify(id)}: ids are type or type/name, types ${Object.keys(EXPORTER_SCHEMAS).join(', ')}`,
        });
        continue;
      }
      if (section === null) continue;
      const parsed = EXPORTER_SCHEMAS[type as ExporterType].safeParse(section ?? {});
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.issues.push({ ...issue, path: [id, ...issue.path] } as (typeof ctx.issues)[number]);
        continue;
      }
      out.push({ id, type, config: parsed.data } as ExporterConfig);
    }
    if (out.length === 0 && ctx.issues.length === 0) {
      ctx.issues.push({ code: 'custom', path: [], input: sections, message: 'at least one exporter must be configured' });
    }
    return out;
  });

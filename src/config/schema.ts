import { z } from 'zod';
import { policyListSchema } from '../sample/policies/config.ts';
import { restCatalogConfigSchema } from '../lake/iceberg/rest-config.ts';
import { kafkaSpoolSchema } from '../spool/kafka/config.ts';
import { SPAN_COLUMNS } from '../lake/span-schema.ts';
import { exportersSchema } from '../export/config.ts';
import { adminSchema } from '../admin/config.ts';
import { rescueSchema } from '../rescue/config.ts';
import { forceRulesSchema } from '../sample/rules/config.ts';
import { hostPort } from './host-port.ts';

/** host:port, as the Collector writes endpoints. */
const listenAddress = hostPort('0.0.0.0:4317');
const positive = z.number().positive();
const positiveInt = z.number().int().positive();

const receiversSchema = z
  .object({
    otlp: z
      .object({
        grpc: z
          .object({
            endpoint: listenAddress.default('0.0.0.0:4317'),
            /** Largest accepted request, after decompression (gRPC's max receive message length). */
            max_recv_msg_size_mib: positive.default(16),
          })
          .strict()
          .nullable()
          .default({ endpoint: '0.0.0.0:4317', max_recv_msg_size_mib: 16 }),
        http: z
          .object({
            endpoint: listenAddress.default('0.0.0.0:4318'),
            /** Largest accepted body, after decompression; larger → 413. */
            max_request_body_size_mib: positive.default(20),
            traces_url_path: z.string().startsWith('/').default('/v1/traces'),
          })
          .strict()
          .nullable()
          .default({ endpoint: '0.0.0.0:4318', max_request_body_size_mib: 20, traces_url_path: '/v1/traces' }),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

const spoolSchema = z
  .object({
    type: z.enum(['local', 'kafka']).default('local'),
    local: z
      .object({
        dir: z.string().min(1).default('./data/spool'),
        /** Largest segment file before a new one starts. */
        segment_size_mib: positive.default(64),
        /** Appends wait at most this long to share one fsync with others. */
        fsync_interval_ms: z.number().int().min(0).default(5),
        /** Receivers answer "busy, retry later" while this much is not yet in the table. */
        max_pending_mib: positive.default(2048),
      })
      .strict()
      .prefault({}),
    /** Used when type is kafka (schema and meaning in src/spool/kafka/config.ts). */
    kafka: kafkaSpoolSchema,
  })
  .strict()
  .prefault({});

/** An empty value (e.g. `${VAR:-}`) means "not set". */
const optionalString = z.preprocess((v) => (v === '' ? null : v), z.string().nullable());

/** The object store an `s3://` warehouse lives on (AWS S3 or an S3-compatible store: Garage, MinIO…). */
const s3Schema = z
  .object({
    /** http(s)://host:port of an S3-compatible store; null → AWS S3. */
    endpoint: z
      .preprocess((v) => (v === '' ? null : v), z.url({ protocol: /^https?$/ }).nullable())
      .default(null),
    region: z.string().min(1).default('us-east-1'),
    /** Path-style requests (endpoint/bucket/key), as Garage and MinIO want. */
    path_style: z.boolean().default(true),
    /** Static credentials (write `${VAR}`); none → the AWS SDK's default chain (env, profile, IMDS…). */
    access_key_id: optionalString.default(null),
    secret_access_key: optionalString.default(null),
    session_token: optionalString.default(null),
    /** Objects at least this big are written as multipart uploads. */
    multipart_threshold_mib: positive.default(16),
    /** Multipart part size (AWS S3 needs >= 5 MiB; Garage accepts less). */
    part_size_mib: positive.default(8),
    /** Attempts per request, retries with backoff included. */
    max_attempts: positiveInt.max(20).default(3),
  })
  .strict()
  .prefault({})
  .superRefine((s3, ctx) => {
    if ((s3.access_key_id === null) !== (s3.secret_access_key === null)) {
      ctx.addIssue({
        code: 'custom',
        path: [s3.access_key_id === null ? 'access_key_id' : 'secret_access_key'],
        message: 'access_key_id and secret_access_key go together (set both, or neither for the default credential chain)',
      });
    }
    if (s3.session_token !== null && s3.access_key_id === null) {
      ctx.addIssue({ code: 'custom', path: ['session_token'], message: 'session_token needs access_key_id and secret_access_key' });
    }
  });

const storageSchema = z
  .object({
    type: z.literal('iceberg').default('iceberg'),
    /**
     * Who writes the table: `internal`, this service from its spool; `external`, another writer
     * (an AutoMQ table topic on `spool.kafka.topic`) while this service only reads it and decides.
     */
    materializer: z.enum(['internal', 'external']).default('internal'),
    external: z
      .object({
        /** Span column → the external table's column, for columns named differently there. */
        columns: z.partialRecord(z.enum(SPAN_COLUMNS.map((c) => c.name)), z.string().min(1)).default({}),
      })
      .strict()
      .prefault({}),
    catalog: z
      .discriminatedUnion('type', [
        z
          .object({
            type: z.literal('sql').default('sql'),
            /** SQLite file holding the Iceberg JDBC catalog tables (pyiceberg's SqlCatalog opens it too). */
            uri: z.string().min(1).default('./data/catalog.db'),
            warehouse: z.string().min(1).default('./data/warehouse'),
            /** catalog_name in the JDBC tables. */
            name: z.string().min(1).default('default'),
          })
          .strict(),
        restCatalogConfigSchema,
      ])
      .prefault({}),
    table: z
      .object({
        namespace: z.string().min(1).default('observability'),
        name: z.string().min(1).default('otel_spans'),
      })
      .strict()
      .prefault({}),
    /**
     * The decision audit table: every decision appended beside the span table, in the same catalog,
     * at the commit interval. null turns it off.
     */
    audit_table: z
      .object({
        /** null → the span table's namespace. */
        namespace: optionalString.default(null),
        name: z.string().min(1).default('sampling_decisions'),
        /** This replica's name in the `replica` column; null → the host name. */
        replica: optionalString.default(null),
      })
      .strict()
      .nullable()
      .prefault({}),
    s3: s3Schema,
    commit_interval_secs: positive.default(10),
    /**
     * Spool bytes read into one commit at most; when more waits, the next commit starts at once. The
     * materializer's working set is several times this, so it bounds the service's memory peak.
     */
    max_commit_mib: positive.default(8),
    /**
     * Decode spool records and encode Parquet (zstd included) on a worker thread, so the event loop
     * only receives, reads the spool, writes files and commits; false keeps it all on the event loop.
     */
    encode_thread: z.boolean().default(false),
    /** Parquet row group size, rows. */
    row_group_size: positiveInt.default(100_000),
    /**
     * Snapshots kept in table metadata; older ones are expired, with the manifests and data files no
     * kept snapshot references any more.
     */
    max_snapshots: positiveInt.default(200),
    /** Day partitions are dropped once the whole day is older than this; 0 keeps everything. */
    retention_days: z.number().int().min(0).default(7),
    /** Merging small manifests at commit (Java's commit.manifest-merge.enabled, …min-count-to-merge, …target-size-bytes). */
    manifest_merge: z
      .object({
        enabled: z.boolean().default(true),
        /** Merge when a commit would leave more manifests smaller than target_size_kib than this. */
        min_count_to_merge: z.number().int().min(2).default(100),
        /** Manifests this large are left alone; merged ones grow to about this (a parse holds ~70× it in memory). */
        target_size_kib: positiveInt.default(512),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

const querySchema = z
  .object({
    scan_interval_secs: positive.default(10),
    inactivity_threshold_secs: positive.default(60),
    max_trace_age_secs: positive.default(3600),
    /** Traces decided (and exported) per batch. */
    batch_size: positiveInt.default(1000),
    /** A trace with more spans than this is decided at once; later spans follow that decision. */
    max_spans_per_trace: positiveInt.default(100_000),
    /** Likewise for bytes (sum of span_size). */
    max_bytes_per_trace_mib: positive.default(64),
    /** How long decisions are remembered for late spans. */
    decision_cache_ttl_secs: positive.default(7200),
    /**
     * A live trace's summary this long without a new span, and not due for as long, waits on disk
     * (under state_dir) until it is due; 0 keeps every summary in memory.
     */
    spill_idle_secs: z.number().min(0).default(30),
    /** Evaluator state (decisions, scan position). */
    state_dir: z.string().min(1).default('./data/state'),
  })
  .strict()
  .prefault({});

const samplingSchema = z
  .object({
    sample_errors: z.boolean().default(true),
    error_sample_rate: z.number().min(0).max(1).default(1.0),
    sample_latency: z.boolean().default(true),
    latency_threshold_ms: positive.default(30_000),
    policies: policyListSchema.default([]),
  })
  .strict()
  .prefault({});

const telemetrySchema = z
  .object({
    endpoint: listenAddress.default('0.0.0.0:8888'),
    log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    version: z.literal(1).default(1),
    receivers: receiversSchema,
    spool: spoolSchema,
    storage: storageSchema,
    query: querySchema,
    sampling: samplingSchema,
    force_rules: forceRulesSchema,
    exporters: exportersSchema,
    telemetry: telemetrySchema,
    admin: adminSchema,
    rescue: rescueSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.storage.materializer !== 'external') return;
    // The external writer reads the topic the receivers produce to, by the schema id it is framed with.
    if (c.spool.type !== 'kafka') {
      ctx.addIssue({ code: 'custom', path: ['spool', 'type'], message: 'storage.materializer external needs spool.type kafka (the table topic the external writer reads)' });
    } else if (c.spool.kafka.schema_registry === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['spool', 'kafka', 'schema_registry'],
        message: 'storage.materializer external needs a schema registry (url, or a registered schema_id) to frame span records with',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ReceiversConfig = Config['receivers'];
export type SpoolConfig = Config['spool'];
export type StorageConfig = Config['storage'];
export type QueryConfig = Config['query'];
export type SamplingConfig = Config['sampling'];
export type { ForceRulesConfig } from '../sample/rules/config.ts';
export type { DebugExporterConfig, ExporterConfig, OtlpExporterConfig } from '../export/config.ts';
export type TelemetryConfig = Config['telemetry'];
export type { AdminConfig } from '../admin/config.ts';
export type { RescueConfig } from '../rescue/config.ts';

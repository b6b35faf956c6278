import { z } from 'zod';
import { hostPort } from '../../config/host-port.ts';
import { tlsSchema } from '../../config/tls.ts';

/** host:port, as the Collector writes broker addresses. */
const brokerAddress = hostPort('kafka-0:9092');

/** Kafka's own rule for topic names (legal characters, at most 249, not "." or ".."). */
const topicName = z
  .string()
  .regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name: 1–249 of a-z A-Z 0-9 . _ -')
  .refine((t) => t !== '.' && t !== '..', 'a Kafka topic name cannot be "." or ".."');

/** Kafka client and group ids travel as protocol strings; the client refuses whitespace in them. */
const kafkaId = z.string().regex(/^\S{1,255}$/, 'non-empty, without whitespace');

export const KAFKA_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

const saslSchema = z
  .object({
    mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
    username: z.string().min(1),
    /** Never logged. */
    password: z.string(),
  })
  .strict();

/**
 * Confluent Schema Registry for the `span_record` format (one span per message, framed with its
 * schema id, for brokers that materialize the topic themselves, e.g. AutoMQ table topics).
 */
const schemaRegistrySchema = z
  .object({
    /** Base URL (`<url>/subjects/…`); the SpanRecord schema is registered there at start-up. */
    url: z
      .url({ protocol: /^https?$/ })
      .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), 'no credentials in the URL: use username and password')
      .nullable()
      .default(null),
    /** Subject the schema is registered under. Default: `<topic>-value` (TopicNameStrategy). */
    subject: z.string().min(1).nullable().default(null),
    /** A schema id to use as it is, without registering (the schema must already be that id). */
    schema_id: z.number().int().min(1).max(0x7fffffff).nullable().default(null),
    /** HTTP basic auth; both or neither. The password is never logged. */
    username: z.string().min(1).nullable().default(null),
    password: z.string().nullable().default(null),
  })
  .strict()
  .refine((r) => r.url !== null || r.schema_id !== null, {
    message: 'set url (register the schema) or schema_id (use a known id)',
    path: ['url'],
  })
  .refine((r) => (r.username === null) === (r.password === null), {
    message: 'username and password go together',
    path: ['password'],
  });

export type SchemaRegistryConfig = z.infer<typeof schemaRegistrySchema>;

/**
 * `spool.kafka`: the spool as a Kafka topic. Receivers produce one message per trace (otelcol
 * kafkaexporter `otlp_proto` with `partition_traces_by_id`); the materializer reads the topic as a
 * consumer group member and commits offsets once the table holds the spans.
 */
export const kafkaSpoolSchema = z
  .object({
    brokers: z.array(brokerAddress).min(1).default(['localhost:9092']),
    topic: topicName.default('otel-traces-raw'),
    /**
     * Changelog of the evaluators' decisions and progress, one partition per spool partition, so a
     * replica taking partitions over in a rebalance carries on where their last owner stopped.
     * Default: `<topic>-decisions`.
     */
    decisions_topic: topicName.nullable().default(null),
    client_id: kafkaId.default('tailsampler'),
    group_id: kafkaId.default('tailsampler'),
    /** Partitions of the topic when the spool creates it (an existing topic is used as it is). */
    partitions: z.number().int().min(1).max(100_000).default(16),
    compression: z.enum(KAFKA_COMPRESSIONS).default('none'),
    /**
     * Largest message and largest batch per partition in one produce request (the broker's
     * `max.message.bytes` must be at least this). A trace bigger than this is split into several
     * messages with the same key.
     */
    max_message_bytes: z.number().int().min(1024).default(1_000_000),
    /** An append not acknowledged by Kafka within this time fails as retryable (503/UNAVAILABLE). */
    timeout_ms: z.number().int().min(100).default(10_000),
    sasl: saslSchema.nullable().default(null),
    tls: tlsSchema.nullable().default(null),
    /** Where span records get their schema id (`null`: none; the span_record format needs it). */
    schema_registry: schemaRegistrySchema.nullable().default(null),
  })
  .strict()
  .prefault({});

export type KafkaSpoolConfig = z.infer<typeof kafkaSpoolSchema>;

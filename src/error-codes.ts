/**
 * Every error code this service raises, in one closed catalogue: code (TS_<AREA>_<WHAT>) → whether
 * its errors are retryable and what it means. `TailsamplerError` takes only these codes, so an
 * unknown one fails the type check, and an error's `retryable` comes from here unless the code says
 * `per instance` (then the class decides, e.g. by the HTTP status it got, and must say so).
 *
 * Adding a code: one line here, and the same row in the README's "Error codes" table
 * (test/unit/error-codes.test.ts keeps the two in step and fails on a `'TS_…'` literal in src/ that
 * is not listed here).
 */
export interface ErrorCodeInfo {
  /** true / false for every error of the code; 'per instance' when the class decides each time. */
  readonly retryable: boolean | 'per instance';
  /** One sentence: what happened, and what to do about it when that is not obvious. */
  readonly meaning: string;
}

export const errorCodes = {
  TS_CONFIG_INVALID: { retryable: false, meaning: 'The configuration does not validate; every issue is listed with its path.' },
  TS_CONFIG_UNREADABLE: { retryable: false, meaning: 'The configuration file cannot be read.' },
  TS_CONFIG_INTERPOLATION: { retryable: false, meaning: 'A `${VAR}` in the configuration names an unset or empty variable and has no `:-default`.' },

  TS_PIPELINE_BUSY: { retryable: true, meaning: 'The spool or the materializer is behind; receivers answer 503/UNAVAILABLE with a retry hint.' },
  TS_MATERIALIZE_ENCODE_THREAD: { retryable: true, meaning: 'The materializer\'s encode thread died or was stopped while encoding a commit; the spool keeps the spans and the next commit starts a new thread.' },
  TS_RECEIVER_INVALID_REQUEST: { retryable: false, meaning: 'An OTLP export request is malformed; receivers answer 400/INVALID_ARGUMENT.' },
  TS_OTLP_CORRUPT_PAYLOAD: { retryable: false, meaning: 'Bytes this service stored itself (spool payload, table cell) do not decode: corruption or a bug, not a client error.' },

  TS_SPOOL_WRITE: { retryable: true, meaning: 'Writing or fsyncing a spool batch failed; nothing of it was acknowledged.' },
  TS_SPOOL_CLOSED: { retryable: true, meaning: 'The spool is not running (starting, shutting down or shut down).' },
  TS_SPOOL_CORRUPT: { retryable: false, meaning: 'A spool segment holds bytes that are not a valid record; start-up stops rather than drop the records after it.' },
  TS_SPOOL_POSITION: { retryable: false, meaning: 'A local spool position is malformed or lies beyond what the spool made durable.' },
  TS_SPOOL_LOCKED: { retryable: false, meaning: 'Another live process holds the spool directory.' },
  TS_SPOOL_RECORD_TOO_LARGE: { retryable: false, meaning: 'One payload is larger than a spool frame can hold.' },
  TS_SPOOL_POSITION_CONFLICT: { retryable: true, meaning: 'Another replica committed records this one read (it took their partitions over); re-read from the table.' },
  TS_SPOOL_KAFKA_UNAVAILABLE: { retryable: true, meaning: 'Kafka did not answer in time or could not be reached; receivers answer 503/UNAVAILABLE.' },
  TS_SPOOL_KAFKA: { retryable: false, meaning: 'Kafka refused an operation, or the spool met a state it cannot go on from (authentication, topic gone, undecodable payload).' },
  TS_SPOOL_KAFKA_RECORD_TOO_LARGE: { retryable: false, meaning: 'One span record is larger than `spool.kafka.max_message_bytes` and cannot be cut.' },
  TS_SPOOL_KAFKA_CONFIG: { retryable: false, meaning: '`spool.kafka` cannot work as given for what was asked (e.g. span records without a schema id).' },
  TS_SPOOL_KAFKA_SCHEMA_REGISTRY: { retryable: 'per instance', meaning: 'The Schema Registry refused a request or could not be reached; retryable when unreachable, timed out, 429 or 5xx.' },
  TS_SPOOL_KAFKA_POSITION: { retryable: false, meaning: 'A spool position is not a Kafka position of this topic, or points past the end of a partition.' },

  TS_FILEIO_NOT_FOUND: { retryable: false, meaning: 'The file or object does not exist (S3 NoSuchKey / 404).' },
  TS_FILEIO_INVALID_URI: { retryable: false, meaning: 'No FileIO can address this URI (unknown scheme, no bucket or key).' },
  TS_FILEIO_INVALID_OPTIONS: { retryable: false, meaning: "S3 part size or multipart threshold is not positive, or the bucket's endpoint wants another signing scheme than SigV4 (S3 Express)." },
  TS_FILEIO_REQUEST_FAILED: { retryable: 'per instance', meaning: 'An object store request failed after the client\'s own retries; retryable when throttled, 5xx or unreachable, not when denied.' },
  TS_LAKE_TRANSFORM: { retryable: false, meaning: 'A value cannot be put through an Iceberg partition transform or bound serialization.' },
  TS_LAKE_PARQUET_WRITE: { retryable: false, meaning: 'A span batch cannot be written as Parquet.' },
  TS_LAKE_PARQUET_READ: { retryable: false, meaning: 'A Parquet data file cannot be read (corrupt, truncated or of an unexpected layout).' },
  TS_ICEBERG_INVALID_MANIFEST: { retryable: false, meaning: 'An Avro manifest or manifest list cannot be read.' },
  TS_ICEBERG_INVALID_METADATA: { retryable: false, meaning: 'Table metadata is not something this writer can work with (including ids beyond 2^53).' },
  TS_ICEBERG_EXTERNAL_LAYOUT: { retryable: false, meaning: 'An external table lacks a column the evaluator needs, or has it in a type it cannot read.' },
  TS_ICEBERG_TABLE_READ_ONLY: { retryable: false, meaning: 'Something tried to write a table another writer owns (`storage.materializer: external`).' },

  TS_CATALOG_NO_SUCH_TABLE: { retryable: false, meaning: 'The catalog has no such table (an external table must exist before start-up).' },
  TS_CATALOG_TABLE_EXISTS: { retryable: false, meaning: 'A table of that name already exists.' },
  TS_CATALOG_COMMIT_CONFLICT: { retryable: true, meaning: 'Another writer committed first; reload the table and commit on top of it.' },
  TS_CATALOG_COMMIT_RETRIES_EXHAUSTED: { retryable: true, meaning: 'Commits kept losing races; the whole append may be tried again later.' },
  TS_CATALOG_COMMIT_STATE_UNKNOWN: { retryable: false, meaning: 'The catalog may or may not have applied a commit; reload and look for the snapshot, never re-send blindly.' },
  TS_CATALOG_UNAVAILABLE: { retryable: true, meaning: 'The catalog could not be reached or answered 5xx outside a commit.' },
  TS_CATALOG_AUTH: { retryable: false, meaning: 'The catalog or its OAuth2 token endpoint refused our credentials (401/403/419).' },
  TS_CATALOG_REQUEST_REJECTED: { retryable: false, meaning: 'The catalog rejected a request (another 4xx); its error type and message are kept.' },

  TS_SAMPLE_POLICY_INVALID: { retryable: false, meaning: 'A sampling policy cannot be built (normally caught earlier by the config schema).' },
  TS_RULE_INVALID: { retryable: false, meaning: 'A force rule was refused; every issue is listed with its path in the submitted JSON (e.g. `match.span[0].op`).' },
  TS_RULE_STORE_UNAVAILABLE: { retryable: true, meaning: 'The force-rule store (Redis) could not be reached or did not answer in time; the last good set of rules stays in force.' },
  TS_RULE_STORE_CONFIG: { retryable: false, meaning: '`force_rules.redis` cannot work as given (e.g. a TLS file that cannot be read).' },
  TS_EVALUATOR_CHECKPOINT_CORRUPT: { retryable: false, meaning: 'The evaluator checkpoint has no valid header, another version, or is truncated.' },
  TS_EVALUATOR_STATE_AHEAD: { retryable: false, meaning: 'The evaluator state has read further than the table holds: the table was replaced.' },
  TS_EVALUATOR_TOO_MANY_TRACES: { retryable: false, meaning: 'More live traces than the evaluator can hold; lower `query.inactivity_threshold_secs` or add replicas.' },
  TS_AUDIT_ALREADY_COMMITTED: { retryable: false, meaning: 'Buffered decision audit rows are already in the audit table (a crash between its commit and the buffer delete); they leave the buffer instead of being committed twice.' },

  TS_EXPORT_SEND: { retryable: 'per instance', meaning: 'One attempt to deliver an export failed; retryable for the destination\'s transient statuses (OTLP: 429, 502, 503, 504; Datadog: 408, 429, 5xx) and network errors, with the server\'s throttling hint.' },
  TS_EXPORT_TIMEOUT: { retryable: true, meaning: 'An export attempt took longer than `timeout_ms`.' },
  TS_EXPORT_RETRIES_EXHAUSTED: { retryable: true, meaning: 'Export retries stopped: the next wait would pass `max_elapsed_time_ms`, or retrying is disabled.' },
  TS_EXPORT_SHUTDOWN: { retryable: true, meaning: 'The exporter was shut down before the request was delivered.' },
  TS_EXPORT_CONFIG: { retryable: false, meaning: 'An exporter\'s configuration cannot work (bad endpoint and the like).' },
  TS_EXPORT_ENCODE: { retryable: false, meaning: 'A request cannot be put into the destination\'s format (it is not a valid ExportTraceServiceRequest); its traces are dead-lettered.' },

  TS_ADMIN_BAD_REQUEST: { retryable: false, meaning: 'An admin API request body is not JSON, or a parameter is malformed (400).' },
  TS_ADMIN_UNAUTHORIZED: { retryable: false, meaning: 'An admin API call without a valid bearer token: none, a wrong one, or a JWT that fails the OIDC checks (401).' },
  TS_ADMIN_NOT_FOUND: { retryable: false, meaning: 'No such admin API route, or no such rule (404).' },
  TS_ADMIN_METHOD_NOT_ALLOWED: { retryable: false, meaning: 'The admin API path exists but not with that method; `Allow` lists those it takes (405).' },
  TS_ADMIN_BODY_TOO_LARGE: { retryable: false, meaning: 'An admin API request body is larger than `admin.max_body_kib` (413).' },
  TS_ADMIN_INTERNAL: { retryable: false, meaning: 'An admin API call failed unexpectedly (500); the log has the error.' },
  TS_ADMIN_REQUEST_FAILED: { retryable: 'per instance', meaning: 'The CLI\'s call to the admin API failed: refused with a status (the server\'s code, message and issues are kept) or the server could not be reached; retryable when unreachable or 503.' },

  TS_RESCUE_INVALID: { retryable: false, meaning: 'A rescue request is refused (400); every issue is listed with its path in the submitted JSON (`trace_ids[2]`, `query.from`).' },
  TS_RESCUE_JOB_NOT_FOUND: { retryable: false, meaning: 'No rescue job has that id (404): never made, or forgotten after `rescue.job_history` newer ones.' },
  TS_RESCUE_BUSY: { retryable: true, meaning: '`rescue.max_jobs` rescue jobs are searching or waiting already (429); try again once one is done.' },
} as const satisfies Record<`TS_${string}`, ErrorCodeInfo>;

export type ErrorCode = keyof typeof errorCodes;

/** Codes whose errors decide `retryable` one by one: their constructors must pass it. */
export type PerInstanceErrorCode = {
  [C in ErrorCode]: (typeof errorCodes)[C]['retryable'] extends 'per instance' ? C : never;
}[ErrorCode];

/** Codes whose errors are all retryable, or all not, as the catalogue says. */
export type FixedErrorCode = Exclude<ErrorCode, PerInstanceErrorCode>;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCodes, code);
}

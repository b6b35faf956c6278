import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const SECONDS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Decision and export lags: around the inactivity wait (seconds) plus commit and scan intervals, finer there. */
const LAG_SECONDS = [0.25, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 30, 45, 60, 120, 300, 600, 1800, 3600];

/**
 * The service's own metrics, one registry per process (tests build their own). Names follow the
 * Collector's habit: per component, items received / sent / refused / dropped, tagged with an outcome.
 */
export class Metrics {
  readonly registry: Registry;
  readonly receiverAcceptedSpans: Counter<'receiver' | 'transport'>;
  readonly receiverRefusedSpans: Counter<'receiver' | 'transport' | 'reason'>;
  readonly receiverRefusedRequests: Counter<'receiver' | 'transport' | 'reason'>;
  readonly spoolPendingBytes: Gauge;
  readonly spoolKafkaProducedMessages: Counter;
  readonly spoolKafkaAssignedPartitions: Gauge;
  readonly committedSpans: Counter;
  readonly commitDuration: Histogram;
  readonly materializerConflicts: Counter;
  readonly rejectedRecords: Counter;
  readonly scanDuration: Histogram;
  readonly liveTraces: Gauge;
  readonly summaryBytes: Gauge;
  readonly spilledTraces: Gauge;
  readonly pagePoolFlushDuration: Histogram;
  readonly tracesDecided: Counter<'policy' | 'outcome'>;
  readonly policyEvaluationErrors: Counter<'policy'>;
  readonly policyAttributeParseErrors: Counter<'column'>;
  readonly dynamicKeyOverflow: Counter<'policy'>;
  readonly decisionLag: Histogram;
  readonly exportLag: Histogram<'exporter'>;
  readonly lateSpans: Counter<'outcome'>;
  readonly exporterSentSpans: Counter<'exporter'>;
  readonly exporterFailedSpans: Counter<'exporter' | 'outcome'>;
  readonly exporterQueueSize: Gauge<'exporter'>;
  readonly exporterDeliveredTraces: Counter<'exporter'>;
  readonly exporterRetriedTraces: Counter<'exporter'>;
  readonly exporterDeadLetteredTraces: Counter<'exporter' | 'reason'>;
  readonly exporterBacklogTraces: Gauge<'exporter'>;
  readonly exporterBacklogAge: Gauge<'exporter'>;
  readonly emitterErrors: Counter;
  readonly rescuedTraces: Counter<'outcome'>;
  readonly rescueDeliveries: Counter<'exporter' | 'outcome'>;
  readonly rescueJobs: Counter<'outcome'>;
  readonly ddStatsSpans: Counter<'exporter' | 'outcome'>;
  readonly ddStatsSentPayloads: Counter<'exporter'>;
  readonly ddStatsFailedPayloads: Counter<'exporter' | 'outcome'>;
  readonly auditCommittedDecisions: Counter;
  readonly auditCommitFailures: Counter;
  readonly auditPendingDecisions: Gauge;
  readonly s3Requests: Counter<'op'>;
  readonly s3Bytes: Counter<'direction'>;
  readonly adminRequests: Counter<'route' | 'code'>;
  readonly forceRulesInForce: Gauge;
  readonly forceRulesStoreUp: Gauge;
  readonly forceRulesLastLoad: Gauge;
  readonly forceRulesErrors: Counter<'reason'>;

  constructor(registry = new Registry(), withProcessMetrics = false) {
    this.registry = registry;
    if (withProcessMetrics) collectDefaultMetrics({ register: registry, prefix: 'tailsampler_' });
    const r = [registry];
    this.receiverAcceptedSpans = new Counter({
      name: 'tailsampler_receiver_accepted_spans_total',
      help: 'Spans accepted by a receiver and made durable in the spool',
      labelNames: ['receiver', 'transport'],
      registers: r,
    });
    this.receiverRefusedSpans = new Counter({
      name: 'tailsampler_receiver_refused_spans_total',
      help: 'Spans a receiver refused, by reason (invalid, busy, too_large, error); a request refused before its spans are known (malformed, or too large to read) adds 0',
      labelNames: ['receiver', 'transport', 'reason'],
      registers: r,
    });
    this.receiverRefusedRequests = new Counter({
      name: 'tailsampler_receiver_refused_requests_total',
      help: 'Requests a receiver refused whole (an error status, not partial success), by reason (invalid, busy, too_large, error)',
      labelNames: ['receiver', 'transport', 'reason'],
      registers: r,
    });
    this.spoolPendingBytes = new Gauge({
      name: 'tailsampler_spool_pending_bytes',
      help: 'Bytes in the spool not yet committed to the table',
      registers: r,
    });
    this.spoolKafkaProducedMessages = new Counter({
      name: 'tailsampler_spool_kafka_produced_messages_total',
      help: 'Messages (one per trace per request) the Kafka spool produced and Kafka acknowledged',
      registers: r,
    });
    this.spoolKafkaAssignedPartitions = new Gauge({
      name: 'tailsampler_spool_kafka_assigned_partitions',
      help: 'Partitions of the spool topic the consumer group currently assigns to this replica',
      registers: r,
    });
    this.committedSpans = new Counter({
      name: 'tailsampler_materializer_committed_spans_total',
      help: 'Spans committed to the Iceberg table',
      registers: r,
    });
    this.materializerConflicts = new Counter({
      name: 'tailsampler_materializer_position_conflicts_total',
      help: 'Batches not committed because another replica had committed part of their spool range (read again from the table)',
      registers: r,
    });
    this.rejectedRecords = new Counter({
      name: 'tailsampler_materializer_rejected_records_total',
      help: 'Spool records that are not valid OTLP ExportTraceServiceRequests (e.g. a topic written with another encoding, or a string that is not UTF-8), left out of the table',
      registers: r,
    });
    this.commitDuration = new Histogram({
      name: 'tailsampler_materializer_commit_duration_seconds',
      help: 'Time to write data files and commit one snapshot',
      buckets: SECONDS,
      registers: r,
    });
    this.scanDuration = new Histogram({
      name: 'tailsampler_evaluator_scan_duration_seconds',
      help: 'Time of one evaluator scan (read new files, decide ready traces)',
      buckets: SECONDS,
      registers: r,
    });
    this.liveTraces = new Gauge({
      name: 'tailsampler_evaluator_live_traces',
      help: 'Traces seen but not decided yet',
      registers: r,
    });
    this.summaryBytes = new Gauge({
      name: 'tailsampler_evaluator_summary_bytes',
      help: "Memory held by the live traces' summaries and their index (grows with live traces, not with spans)",
      registers: r,
    });
    this.spilledTraces = new Gauge({
      name: 'tailsampler_evaluator_spilled_traces',
      help: 'Live traces whose summaries wait on disk until they are due (query.spill_idle_secs); counted in live_traces too',
      registers: r,
    });
    this.pagePoolFlushDuration = new Histogram({
      name: 'tailsampler_memory_reducing_gc_duration_seconds',
      help: "Memory-reducing collections the service asked V8 for (RSS grew since the last), releasing the heap pages V8 keeps pooled",
      buckets: SECONDS,
      registers: r,
    });
    this.tracesDecided = new Counter({
      name: 'tailsampler_traces_decided_total',
      help: 'Traces decided, by deciding policy and outcome (sampled, not_sampled)',
      labelNames: ['policy', 'outcome'],
      registers: r,
    });
    this.policyEvaluationErrors = new Counter({
      name: 'tailsampler_policy_evaluation_errors_total',
      help: 'Evaluations of a top-level sampling policy that failed (the policy had no vote on that trace), by policy',
      labelNames: ['policy'],
      registers: r,
    });
    this.policyAttributeParseErrors = new Counter({
      name: 'tailsampler_policy_attribute_parse_errors_total',
      help: 'Span attribute or resource texts attribute policies could not parse as OTLP/JSON (read as no attributes), by column (attributes, resource)',
      labelNames: ['column'],
      registers: r,
    });
    this.dynamicKeyOverflow = new Counter({
      name: 'tailsampler_dynamic_key_overflow_total',
      help: 'Traces a dynamic policy could not count toward their key because max_keys keys were already counted in the interval, by policy',
      labelNames: ['policy'],
      registers: r,
    });
    this.decisionLag = new Histogram({
      name: 'tailsampler_decision_lag_seconds',
      help: 'From the last span of a trace reaching the service (its request made durable in the spool; the Kafka record timestamp) to its decision; for spans this process did not commit itself, from when the evaluator read them',
      buckets: LAG_SECONDS,
      registers: r,
    });
    this.exportLag = new Histogram({
      name: 'tailsampler_export_lag_seconds',
      help: 'From the last span of a kept trace reaching the service to the trace accepted by an exporter\'s destination, by exporter (decisions made by this process since it started)',
      labelNames: ['exporter'],
      buckets: LAG_SECONDS,
      registers: r,
    });
    this.lateSpans = new Counter({
      name: 'tailsampler_late_spans_total',
      help: 'Spans arriving after their trace was decided, by outcome (exported, dropped)',
      labelNames: ['outcome'],
      registers: r,
    });
    this.exporterSentSpans = new Counter({
      name: 'tailsampler_exporter_sent_spans_total',
      help: 'Spans an exporter delivered',
      labelNames: ['exporter'],
      registers: r,
    });
    this.exporterFailedSpans = new Counter({
      name: 'tailsampler_exporter_failed_spans_total',
      help: 'Spans an exporter could not deliver, by outcome (permanent, retries_exhausted, shutdown)',
      labelNames: ['exporter', 'outcome'],
      registers: r,
    });
    this.exporterQueueSize = new Gauge({
      name: 'tailsampler_exporter_queue_size',
      help: 'Requests waiting in an exporter queue',
      labelNames: ['exporter'],
      registers: r,
    });
    this.exporterDeliveredTraces = new Counter({
      name: 'tailsampler_exporter_delivered_traces_total',
      help: 'Kept traces (or late spans of one) an exporter accepted every span of',
      labelNames: ['exporter'],
      registers: r,
    });
    this.exporterRetriedTraces = new Counter({
      name: 'tailsampler_exporter_retried_traces_total',
      help: 'Deliveries of kept traces that failed retryably and stay owed, to be sent again after a backoff',
      labelNames: ['exporter'],
      registers: r,
    });
    this.exporterDeadLetteredTraces = new Counter({
      name: 'tailsampler_exporter_dead_lettered_traces_total',
      help: 'Kept traces an exporter gave up on, put on the dead-letter list, by reason (rejected, partial_success, not_in_lake, backlog_full, exporter_removed)',
      labelNames: ['exporter', 'reason'],
      registers: r,
    });
    this.exporterBacklogTraces = new Gauge({
      name: 'tailsampler_exporter_backlog_traces',
      help: 'Kept traces an exporter still owes (durable, trace ids only)',
      labelNames: ['exporter'],
      registers: r,
    });
    this.exporterBacklogAge = new Gauge({
      name: 'tailsampler_exporter_backlog_oldest_seconds',
      help: 'Age of the oldest decision an exporter still owes the trace of (0 when it owes none)',
      labelNames: ['exporter'],
      registers: r,
    });
    this.emitterErrors = new Counter({
      name: 'tailsampler_emitter_errors_total',
      help: 'Emitter rounds that failed (the deliveries stay owed) and exported-trace records the decision changelog did not take',
      registers: r,
    });
    this.rescuedTraces = new Counter({
      name: 'tailsampler_rescued_traces_total',
      help: 'Traces a rescue asked for or found, by outcome: queued (owed to the exporters, marked), already_owed (the same rows were owed already), not_found (no longer, or never, in the table)',
      labelNames: ['outcome'],
      registers: r,
    });
    this.rescueDeliveries = new Counter({
      name: 'tailsampler_rescue_deliveries_total',
      help: 'Rescued traces an exporter is done with, by outcome: delivered (every span accepted, marked), dead_lettered',
      labelNames: ['exporter', 'outcome'],
      registers: r,
    });
    this.rescueJobs = new Counter({
      name: 'tailsampler_rescue_jobs_total',
      help: 'Rescue jobs finished, by outcome: done (its traces queued), failed (reading the table failed, or the service stopped during the search)',
      labelNames: ['outcome'],
      registers: r,
    });
    this.ddStatsSpans = new Counter({
      name: 'tailsampler_datadog_stats_spans_total',
      help: 'Committed spans seen by a Datadog exporter\'s APM stats aggregator: counted (in a stats group), not_eligible (neither top-level, measured nor of a remote kind), unmappable',
      labelNames: ['exporter', 'outcome'],
      registers: r,
    });
    this.ddStatsSentPayloads = new Counter({
      name: 'tailsampler_datadog_stats_sent_payloads_total',
      help: 'APM stats payloads (ClientStatsPayload) the Datadog Agent accepted on /v0.6/stats',
      labelNames: ['exporter'],
      registers: r,
    });
    this.ddStatsFailedPayloads = new Counter({
      name: 'tailsampler_datadog_stats_failed_payloads_total',
      help: 'APM stats payloads not delivered: permanent, retries_exhausted, shutdown',
      labelNames: ['exporter', 'outcome'],
      registers: r,
    });
    this.auditCommittedDecisions = new Counter({
      name: 'tailsampler_audit_committed_decisions_total',
      help: 'Decisions committed to the decision audit table',
      registers: r,
    });
    this.auditCommitFailures = new Counter({
      name: 'tailsampler_audit_commit_failures_total',
      help: 'Audit table commits that failed (their decisions stay buffered and the next interval retries)',
      registers: r,
    });
    this.auditPendingDecisions = new Gauge({
      name: 'tailsampler_audit_pending_decisions',
      help: 'Decisions buffered in the state database, not yet committed to the audit table',
      registers: r,
    });
    this.s3Requests = new Counter({
      name: 'tailsampler_s3_requests_total',
      help: 'HTTP requests to the S3 object store (each retry attempt counts), by operation (put_object, upload_part, get_object, …)',
      labelNames: ['op'],
      registers: r,
    });
    this.s3Bytes = new Counter({
      name: 'tailsampler_s3_bytes_total',
      help: 'Body bytes exchanged with the S3 object store, by direction (upload, download)',
      labelNames: ['direction'],
      registers: r,
    });
    this.adminRequests = new Counter({
      name: 'tailsampler_admin_requests_total',
      help: 'Admin API requests, by route (method and path template; "unmatched" for no route) and HTTP status code',
      labelNames: ['route', 'code'],
      registers: r,
    });
    this.forceRulesInForce = new Gauge({
      name: 'tailsampler_force_rules_in_force',
      help: 'Force rules in force in this replica (enabled, not expired; the last good set while the store is down)',
      registers: r,
    });
    this.forceRulesStoreUp = new Gauge({
      name: 'tailsampler_force_rules_store_up',
      help: 'Whether the force-rule store (Redis) is connected and the last reload succeeded (1) or not (0)',
      registers: r,
    });
    this.forceRulesLastLoad = new Gauge({
      name: 'tailsampler_force_rules_last_load_timestamp_seconds',
      help: 'When the set of force rules in force was last loaded in full from the store, seconds since epoch',
      registers: r,
    });
    this.forceRulesErrors = new Counter({
      name: 'tailsampler_force_rules_errors_total',
      help: 'Force-rule store failures, by reason (reload, invalid_rule, publish, prune)',
      labelNames: ['reason'],
      registers: r,
    });
  }
}

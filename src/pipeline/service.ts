import { hostname } from 'node:os';
import { createAdmin } from '../admin/factory.ts';
import { rescueRoutes } from '../admin/rescue-routes.ts';
import type { Component } from '../component.ts';
import type { Config } from '../config/schema.ts';
import type { DecisionStore } from '../evaluate/decision-store.ts';
import type { Evaluator } from '../evaluate/evaluator.ts';
import type { Emitter } from '../export/emitter.ts';
import type { Rescuer } from '../rescue/rescuer.ts';
import { createDatadogStats } from '../export/datadog/stats/stats-exporter.ts';
import { createExporters } from '../export/factory.ts';
import { createAuditTable, createSpanTable } from '../lake/factory.ts';
import { Materializer } from '../materialize/materializer.ts';
import { createOtlpReceiver, type OtlpReceiver } from '../receive/otlp/factory.ts';
import { buildSampler } from '../sample/build-sampler.ts';
import { createRuleStore, withForceRules } from '../sample/rules/factory.ts';
import type { RuleStore } from '../sample/rules/rule-store.ts';
import { createEvaluatorShard, createSpool } from '../spool/factory.ts';
import type { Logger } from '../telemetry/logger.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { createTelemetryServer } from '../telemetry/server.ts';
import type { TracesConsumer } from './consumer.ts';
import { createDecideEmit } from './decide-emit.ts';
import { createPagePoolFlush } from './page-pool-flush.ts';

const MIB = 1024 * 1024;
/** Decisions in one audit table commit at most (a few MiB of Parquet). */
const AUDIT_ROWS_PER_COMMIT = 100_000;

/**
 * The running service: every stage built from its config section and wired receiver → spool → table →
 * evaluator → (decision sinks) emitter → exporters, and the decision audit table (in external mode another writer turns the spool topic into the table).
 */
export interface Service {
  readonly receiver: OtlpReceiver;
  /** Null when another writer fills the table (`storage.materializer: external`). */
  readonly materializer: Materializer | null;
  readonly evaluator: Evaluator;
  /** Rescues traces from the table whatever their decision (the admin API's `/v1/rescue` routes). */
  readonly rescuer: Rescuer;
  /** Force rules (`force_rules:`), or null when not configured. */
  readonly ruleStore: RuleStore | null;
  readonly metrics: Metrics;
  telemetryAddress(): string | null;
  /** The admin API's `host:port`, or null when it is off (no `admin` section). */
  adminAddress(): string | null;
  shutdown(): Promise<void>;
}

/**
 * Builds and starts the pipeline. Start order follows the data backwards (nothing listens before the
 * stages behind it run); shutdown goes forwards, so what the receivers acknowledged is committed.
 */
export async function startService(config: Config, logger: Logger): Promise<Service> {
  const metrics = new Metrics(undefined, true);
  const deps = { metrics, logger };
  const started: Component[] = [];
  let ready = false;
  let emitter: Emitter | null = null;
  const telemetry = createTelemetryServer(config.telemetry, {
    ...deps,
    ready: () => ready,
    exporters: () => emitter?.status() ?? {},
  });
  const startStep = async (c: Component): Promise<void> => {
    await c.start();
    started.push(c);
  };
  let closeTable: (() => Promise<void>) | null = null;
  let closeAudit: (() => Promise<void>) | null = null;
  let store: DecisionStore | null = null;
  const stopAll = async (): Promise<void> => {
    ready = false;
    for (const c of started.reverse()) {
      try {
        await c.shutdown();
      } catch (err) {
        logger.error({ err }, 'component failed to shut down cleanly');
      }
    }
    started.length = 0;
    store?.close();
    store = null;
    await closeAudit?.();
    closeAudit = null;
    await closeTable?.();
    closeTable = null;
  };

  try {
    await startStep(telemetry);
    await startStep(createPagePoolFlush(deps));
    const { table, close } = await createSpanTable(config.storage, { logger, metrics });
    closeTable = close;
    const external = config.storage.materializer === 'external';
    // An external writer (AutoMQ table topic) converts records by schema id: one framed span record each.
    const spool = await createSpool(config.spool, { ...deps, recordFormat: external ? 'span_record' : 'otlp_proto' });
    await startStep(spool);
    const auditConfig = config.storage.audit_table;
    const audit = auditConfig === null ? null : await createAuditTable(config.storage, auditConfig, { logger, metrics });
    closeAudit = audit?.close ?? null;
    const q = config.query;
    const shard = await createEvaluatorShard(spool, config.spool, q.decision_cache_ttl_secs * 1000, deps);
    if (shard !== null) await startStep(shard);
    // Rules are loaded before the evaluator decides anything (and stop being served after it stops).
    const ruleStore = createRuleStore(config.force_rules, deps);
    if (ruleStore !== null) await startStep(ruleStore);
    const policies = buildSampler(config.sampling, deps);
    const stages = createDecideEmit(
      {
        table,
        sampler: ruleStore === null ? policies : withForceRules(policies, ruleStore, deps),
        exporters: createExporters(config.exporters, deps),
        shard,
        stateDir: q.state_dir,
        rescue: config.rescue,
        evaluator: {
          scanIntervalMs: q.scan_interval_secs * 1000,
          inactivityMs: q.inactivity_threshold_secs * 1000,
          maxTraceAgeMs: q.max_trace_age_secs * 1000,
          batchSize: q.batch_size,
          maxSpansPerTrace: q.max_spans_per_trace,
          maxBytesPerTrace: q.max_bytes_per_trace_mib * MIB,
          decisionTtlMs: q.decision_cache_ttl_secs * 1000,
          spillIdleMs: q.spill_idle_secs === 0 ? Infinity : q.spill_idle_secs * 1000,
        },
        audit:
          audit === null
            ? null
            : {
                table: audit.table,
                replica: auditConfig?.replica ?? hostname(),
                commitIntervalMs: config.storage.commit_interval_secs * 1000,
                maxRowsPerCommit: AUDIT_ROWS_PER_COMMIT,
              },
      },
      deps,
    );
    store = stages.store;
    emitter = stages.emitter;
    // The emitter, then the audit table (when on): what the evaluator hands its decisions to.
    await startStep(stages.sink);
    await startStep(stages.rescuer);
    const evaluator = stages.evaluator;
    await startStep(evaluator);
    // APM stats from every committed span; started before (so stopped after) the materializer feeding them.
    // With an external writer nothing here sees every span, so there are none.
    const commitIntervalMs = config.storage.commit_interval_secs * 1000;
    const stats = external ? [] : createDatadogStats(config.exporters, deps, { closeAfterMs: commitIntervalMs + 20_000 });
    for (const s of stats) await startStep(s);
    const materializer = external
      ? null
      : new Materializer(
          spool,
          table,
          { commitIntervalMs, maxCommitBytes: config.storage.max_commit_mib * MIB, encodeThread: config.storage.encode_thread },
          // The evaluator folds each commit as it lands instead of at its next scan.
          { ...deps, observers: stats, landed: () => evaluator.nudge() },
        );
    if (materializer !== null) await startStep(materializer);
    const consumer: TracesConsumer = { consume: (request) => spool.append([request]) };
    const receiver = createOtlpReceiver(config.receivers.otlp, consumer, deps);
    await startStep(receiver);
    // The admin API (off without an `admin` section) last, so it is shut down first: no rule changes
    // while the pipeline drains. The shared force-rule store (and the rescue routes) plug in here.
    const admin = createAdmin(config.admin, { ruleStore, routes: rescueRoutes(stages.rescuer, config.rescue) }, deps);
    if (admin !== null) await startStep(admin);
    ready = true;
    logger.info(
      { grpc: receiver.grpcAddress(), http: receiver.httpAddress(), telemetry: telemetry.address(), admin: admin?.address() ?? null },
      'tailsampler started',
    );
    return {
      receiver,
      materializer,
      evaluator,
      rescuer: stages.rescuer,
      ruleStore,
      metrics,
      telemetryAddress: () => telemetry.address(),
      adminAddress: () => admin?.address() ?? null,
      shutdown: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

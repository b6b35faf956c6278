import { join } from 'node:path';
import { AuditBuffer } from '../audit/audit-buffer.ts';
import { AuditSink } from '../audit/audit-sink.ts';
import { DecisionStore } from '../evaluate/decision-store.ts';
import { Evaluator, type EvaluatorOptions } from '../evaluate/evaluator.ts';
import { LocalScope } from '../evaluate/scope.ts';
import { ShardScope } from '../evaluate/shard-scope.ts';
import type { EvaluatorShard } from '../evaluate/shard.ts';
import { SummarySpill } from '../evaluate/summary-spill.ts';
import { TraceReader } from '../evaluate/trace-reader.ts';
import { DeliveryStore } from '../export/delivery-store.ts';
import { Emitter } from '../export/emitter.ts';
import type { TraceExporter } from '../export/exporter.ts';
import type { AuditTable } from '../lake/iceberg/audit-table.ts';
import type { SpanTable } from '../lake/table.ts';
import { rescueSchema, type RescueConfig } from '../rescue/config.ts';
import { Rescuer } from '../rescue/rescuer.ts';
import type { Sampler } from '../sample/sampler.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { DecisionSink } from './decision-sink.ts';
import { FanOutSink } from './fan-out-sink.ts';

export interface DecideEmitParts {
  table: SpanTable;
  sampler: Sampler;
  exporters: readonly TraceExporter[];
  /** This replica's share of the traces (several replicas), or null when it decides them all. */
  shard: EvaluatorShard | null;
  /** Decisions, deliveries, dead letters, spilled summaries and (one replica) the live-trace checkpoint. */
  stateDir: string;
  evaluator: EvaluatorOptions;
  /** Rescue limits (defaults when absent). */
  rescue?: RescueConfig;
  /** The decision audit table and how it is written, or null when `storage.audit_table` is off. */
  audit?: { table: AuditTable; replica: string; commitIntervalMs: number; maxRowsPerCommit: number } | null;
}

export interface DecideEmit {
  store: DecisionStore;
  emitter: Emitter;
  /** Null when the audit table is off. */
  audit: AuditSink | null;
  /** What the evaluator hands decisions to: the emitter, then the audit table (start it before the evaluator). */
  sink: DecisionSink;
  evaluator: Evaluator;
  /** Rescues traces from the table through the emitter; start it after the emitter, stop it before. */
  rescuer: Rescuer;
}

/**
 * Wires the decide → emit stages over one state database and one file index: the evaluator hands
 * its decisions through the DecisionSink seam to the emitter and, when on, the audit table (both keep
 * their state in the same database); the rescuer hands the emitter traces from the table whatever
 * their decision. Start the sink (the emitter starts the exporters) before the evaluator, shut down
 * the other way round, then close the store.
 */
export function createDecideEmit(parts: DecideEmitParts, deps: { metrics: Metrics; logger: Logger; now?: () => number }): DecideEmit {
  const { table, shard } = parts;
  const store = new DecisionStore(parts.stateDir);
  const reader = new TraceReader(table);
  const deliveries = new DeliveryStore(store);
  const emitter = new Emitter(table, reader, deliveries, parts.exporters, { batchSize: parts.evaluator.batchSize }, {
    ...deps,
    ...(shard !== null ? { onExported: (d) => shard.recordDecisions(d) } : {}),
  });
  const scope = shard !== null ? new ShardScope(shard) : new LocalScope(parts.stateDir);
  const a = parts.audit ?? null;
  const audit =
    a === null
      ? null
      : new AuditSink(a.table, new AuditBuffer(store), { commitIntervalMs: a.commitIntervalMs, maxRowsPerCommit: a.maxRowsPerCommit, replica: a.replica }, deps);
  const sink = audit === null ? emitter : new FanOutSink([emitter, audit]);
  const spill = new SummarySpill(join(parts.stateDir, 'spill'), parts.evaluator.spillIdleMs);
  const evaluator = new Evaluator({ table, reader, store, sampler: parts.sampler, sink, scope, spill }, parts.evaluator, deps);
  const rescuer = new Rescuer(parts.rescue ?? rescueSchema.parse(undefined), { table, target: emitter, store, deliveries, ...deps });
  return { store, emitter, audit, sink, evaluator, rescuer };
}

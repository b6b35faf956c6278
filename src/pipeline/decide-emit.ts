import { DecisionStore } from '../evaluate/decision-store.ts';
import { Evaluator, type EvaluatorOptions } from '../evaluate/evaluator.ts';
import { LocalScope } from '../evaluate/scope.ts';
import { ShardScope } from '../evaluate/shard-scope.ts';
import type { EvaluatorShard } from '../evaluate/shard.ts';
import { TraceReader } from '../evaluate/trace-reader.ts';
import { DeliveryStore } from '../export/delivery-store.ts';
import { Emitter } from '../export/emitter.ts';
import type { TraceExporter } from '../export/exporter.ts';
import type { SpanTable } from '../lake/table.ts';
import { rescueSchema, type RescueConfig } from '../rescue/config.ts';
import { Rescuer } from '../rescue/rescuer.ts';
import type { Sampler } from '../sample/sampler.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';

export interface DecideEmitParts {
  table: SpanTable;
  sampler: Sampler;
  exporters: readonly TraceExporter[];
  /** This replica's share of the traces (several replicas), or null when it decides them all. */
  shard: EvaluatorShard | null;
  /** Decisions, deliveries, dead letters and (one replica) the live-trace checkpoint. */
  stateDir: string;
  evaluator: EvaluatorOptions;
  /** Rescue limits (defaults when absent). */
  rescue?: RescueConfig;
}

export interface DecideEmit {
  store: DecisionStore;
  emitter: Emitter;
  evaluator: Evaluator;
  /** Rescues traces from the table through the emitter; start it after the emitter, stop it before. */
  rescuer: Rescuer;
}

/**
 * Wires the decide → emit stages over one state database and one file index: the evaluator hands
 * its decisions to the emitter through the DecisionSink seam; the rescuer hands it traces from the
 * table whatever their decision. Start the emitter (it starts the
 * exporters) before the evaluator, shut down the other way round, then close the store.
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
  const evaluator = new Evaluator({ table, reader, store, sampler: parts.sampler, sink: emitter, scope }, parts.evaluator, deps);
  const rescuer = new Rescuer(parts.rescue ?? rescueSchema.parse(undefined), { table, target: emitter, store, deliveries, ...deps });
  return { store, emitter, evaluator, rescuer };
}

import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import type { EvaluatorOptions } from '../../src/evaluate/evaluator.ts';
import type { TraceExporter } from '../../src/export/exporter.ts';
import { createAuditTable, createSpanTable } from '../../src/lake/factory.ts';
import { Materializer, type CommittedBatchObserver } from '../../src/materialize/materializer.ts';
import { createDecideEmit } from '../../src/pipeline/decide-emit.ts';
import { buildSampler } from '../../src/sample/build-sampler.ts';
import type { Sampler } from '../../src/sample/sampler.ts';
import { createSpool } from '../../src/spool/factory.ts';
import { silentLogger, type Logger } from '../../src/telemetry/logger.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { toProtobuf, type TestSpan } from './traces.ts';

export interface LocalPipelineOptions {
  /** The `sampling.policies` YAML list (flow style lines), errors and tier=gold by default. */
  policies?: string;
  exporters: readonly TraceExporter[];
  clock: { now: number };
  evaluator?: Partial<EvaluatorOptions>;
  logger?: Logger;
  metrics?: Metrics;
  /** Told of every batch the materializer commits (e.g. a Datadog APM stats exporter). */
  observers?: readonly CommittedBatchObserver[];
  /** Wraps the policies' sampler (e.g. with force rules). */
  sampler?: (policies: Sampler) => Sampler;
  /** Also write the decision audit table (`storage.audit_table`, in the same catalog) as this replica. */
  audit?: { replica: string };
}

const DEFAULT_POLICIES = `
    - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
    - { name: gold, type: string_attribute, string_attribute: { key: tier, values: [gold] } }`;

/**
 * The embedded pipeline in-process, on real components (local spool, SQL catalog, Parquet files, the
 * real evaluator and emitter) under `dir`, driven by hand: `send` commits spans to the table, `scan`
 * runs one evaluator scan. The clock is the caller's. Stopped after the test (or by `stop`).
 */
export async function localPipeline(t: TestContext, dir: string, options: LocalPipelineOptions) {
  const config = parseConfig(
    `spool: { local: { dir: ${join(dir, 'spool')} } }
storage: { catalog: { uri: ${join(dir, 'catalog.db')}, warehouse: ${join(dir, 'warehouse')} } }
sampling:
  policies:${options.policies ?? DEFAULT_POLICIES}`,
    'test',
    {},
  );
  const deps = { metrics: options.metrics ?? new Metrics(), logger: options.logger ?? silentLogger() };
  const { table, close } = await createSpanTable(config.storage, deps);
  const spool = await createSpool(config.spool, deps);
  await spool.start();
  const materializer = new Materializer(spool, table, { commitIntervalMs: 3_600_000, maxCommitBytes: 64 << 20 }, { ...deps, observers: options.observers ?? [] });
  await materializer.start();
  const policies = buildSampler(config.sampling, deps);
  const audit = options.audit === undefined ? null : await createAuditTable(config.storage, config.storage.audit_table!, deps);
  const { store, emitter, evaluator, sink, rescuer, audit: auditSink } = createDecideEmit(
    {
      table,
      sampler: options.sampler?.(policies) ?? policies,
      exporters: options.exporters,
      shard: null,
      stateDir: join(dir, 'state'),
      evaluator: {
        scanIntervalMs: 3_600_000,
        inactivityMs: 10_000,
        maxTraceAgeMs: 60_000,
        batchSize: 2,
        maxSpansPerTrace: 50,
        maxBytesPerTrace: 64 << 20,
        decisionTtlMs: 3_600_000,
        spillIdleMs: Infinity,
        ...options.evaluator,
      },
      audit: audit === null ? null : { table: audit.table, replica: options.audit!.replica, commitIntervalMs: 3_600_000, maxRowsPerCommit: 1000 },
    },
    { ...deps, now: () => options.clock.now },
  );
  await sink.start();
  await rescuer.start();
  await evaluator.start();
  const send = async (spans: TestSpan[]) => {
    await spool.append([toProtobuf([{ service: 'svc', scope: { name: 's' }, spans }])]);
    await materializer.drain();
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await materializer.shutdown();
    await evaluator.shutdown();
    await rescuer.shutdown();
    await sink.shutdown();
    store.close();
    await spool.shutdown();
    await audit?.close();
    await close();
  };
  t.after(stop);
  return { send, evaluator, emitter, rescuer, audit: auditSink, store, table, config, metrics: deps.metrics, stop };
}

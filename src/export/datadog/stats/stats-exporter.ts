import { randomUUID } from 'node:crypto';
import type { Component } from '../../../component.ts';
import type { WriteSpanColumns } from '../../../lake/span-schema.ts';
import type { CommittedBatchObserver } from '../../../materialize/materializer.ts';
import type { Logger } from '../../../telemetry/logger.ts';
import type { Metrics } from '../../../telemetry/metrics.ts';
import { ExportRetriesExhaustedError, messageOf } from '../../errors.ts';
import { runWithRetry } from '../../retry.ts';
import type { Sender } from '../../sender.ts';
import type { DatadogExporterConfig } from '../config.ts';
import { VERSION } from '../exporter.ts';
import { DatadogSender } from '../sender.ts';
import { StatsConcentrator, encodeStatsPayload } from './concentrator.ts';

export interface DatadogStatsOptions {
  /** The Datadog exporter's id; the stats metrics are tagged with it. */
  id: string;
  config: DatadogExporterConfig;
  metrics: Metrics;
  logger: Logger;
  /** How often closed buckets are sent (default 10 s, the bucket size). */
  flushIntervalMs?: number;
  /**
   * A bucket is sent once it ended this long ago: spans reach the table a commit interval (and the
   * spool's wait) after they end, and a bucket sent early is only split in two payloads, not lost.
   */
  closeAfterMs: number;
  /** How long shutdown gives the last payloads (default 10 s). */
  shutdownDrainMs?: number;
  /** Replaces the HTTP sender (tests). */
  sender?: Sender;
  /** Wall clock, ms (tests). */
  now?: () => number;
  random?: () => number;
}

/**
 * APM stats from 100 % of the spans, for one Datadog exporter with `apm_stats: true`: the materializer
 * hands it every batch it commits (exactly once), a StatsConcentrator aggregates them into the
 * Agent's 10 s buckets, and closed buckets go to the Agent's `/v0.6/stats` as msgpack
 * ClientStatsPayloads, with the exporter's timeout and retry settings.
 *
 * Crash semantics (honest, and chosen): the aggregator keeps no state across restarts and observes a
 * batch only after its commit succeeded. A crash between a commit and the flush of the buckets it fed
 * loses those buckets' counts (Datadog under-counts that window); nothing is ever counted twice,
 * because a committed batch is never observed again and nothing is sent before it is committed.
 */
export class DatadogStatsExporter implements Component, CommittedBatchObserver {
  readonly id: string;
  readonly #concentrator = new StatsConcentrator();
  readonly #config: DatadogExporterConfig;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #sender: Sender;
  readonly #flushIntervalMs: number;
  readonly #closeAfterNs: bigint;
  readonly #drainMs: number;
  readonly #now: () => number;
  readonly #random: (() => number) | undefined;
  readonly #abort = new AbortController();
  readonly #runtimeId = randomUUID();
  #sequence = 0;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #lastUnmappableLogMs = -Infinity;

  constructor(options: DatadogStatsOptions) {
    this.id = options.id;
    this.#config = options.config;
    this.#metrics = options.metrics;
    this.#logger = options.logger.child({ exporter: options.id, component: 'datadog-stats' });
    this.#sender = options.sender ?? new DatadogSender({ mode: 'stats', endpoint: options.config.endpoint, version: VERSION });
    this.#flushIntervalMs = options.flushIntervalMs ?? 10_000;
    this.#closeAfterNs = BigInt(Math.round(options.closeAfterMs)) * 1_000_000n;
    this.#drainMs = options.shutdownDrainMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random;
    for (const outcome of ['counted', 'not_eligible', 'unmappable']) this.#metrics.ddStatsSpans.inc({ exporter: this.id, outcome }, 0);
    this.#metrics.ddStatsSentPayloads.inc({ exporter: this.id }, 0);
  }

  committed(batch: WriteSpanColumns): void {
    try {
      const r = this.#concentrator.addColumns(batch);
      if (r.counted > 0) this.#metrics.ddStatsSpans.inc({ exporter: this.id, outcome: 'counted' }, r.counted);
      if (r.notEligible > 0) this.#metrics.ddStatsSpans.inc({ exporter: this.id, outcome: 'not_eligible' }, r.notEligible);
    } catch (err) {
      this.#metrics.ddStatsSpans.inc({ exporter: this.id, outcome: 'unmappable' }, batch.length);
      const now = this.#now();
      if (now - this.#lastUnmappableLogMs >= 60_000) {
        this.#lastUnmappableLogMs = now;
        this.#logger.error({ err: messageOf(err), spans: batch.length }, 'committed batch could not be mapped for APM stats; its spans are missing from them');
      }
    }
  }

  async start(): Promise<void> {
    this.#logger.info({ destination: this.#sender.description }, 'APM stats from all committed spans enabled');
    this.#schedule();
  }

  /** Sends the buckets closed by now (all of them with `all`); one flush at a time. */
  flush(all = false): Promise<void> {
    const cutoff = all ? null : BigInt(Math.floor(this.#now())) * 1_000_000n - this.#closeAfterNs;
    this.#flushing = this.#flushing.then(() => this.#send(cutoff));
    return this.#flushing;
  }

  async shutdown(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const deadline = setTimeout(() => this.#abort.abort(new Error('datadog stats exporter shut down')), this.#drainMs);
    try {
      await this.flush(true);
    } finally {
      clearTimeout(deadline);
      await this.#sender.close();
    }
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      void this.flush().finally(() => {
        if (this.#timer !== null) this.#schedule();
      });
    }, this.#flushIntervalMs);
  }

  async #send(cutoffNs: bigint | null): Promise<void> {
    const payloads = this.#concentrator.takeClosed(cutoffNs);
    for (const p of payloads) {
      const body = encodeStatsPayload(p, { lang: 'otlp', tracerVersion: `tailsampler-${VERSION}`, runtimeId: this.#runtimeId, sequence: ++this.#sequence });
      const buckets = p.buckets.length;
      try {
        await runWithRetry((s) => this.#sender.send(body, s), {
          retry: this.#config.retry_on_failure,
          timeoutMs: this.#config.timeout_ms,
          signal: this.#abort.signal,
          ...(this.#random ? { random: this.#random } : {}),
          onRetry: (attempt, delayMs, error) =>
            this.#logger.warn({ attempt, delayMs: Math.round(delayMs), err: messageOf(error) }, 'APM stats payload failed, will retry'),
        });
        this.#metrics.ddStatsSentPayloads.inc({ exporter: this.id });
      } catch (e) {
        const outcome = this.#abort.signal.aborted ? 'shutdown' : e instanceof ExportRetriesExhaustedError ? 'retries_exhausted' : 'permanent';
        this.#metrics.ddStatsFailedPayloads.inc({ exporter: this.id, outcome });
        this.#logger.error({ outcome, buckets, err: messageOf(e) }, 'APM stats payload not delivered; its hits are missing from Datadog');
      }
    }
  }
}

/**
 * One stats exporter per Datadog exporter with `apm_stats: true` through an Agent. Agentless
 * (`api`) has no client stats endpoint here: those are skipped with a warning.
 */
export function createDatadogStats(
  exporters: readonly { id: string; type: string; config: unknown }[],
  deps: { metrics: Metrics; logger: Logger },
  opts: { closeAfterMs: number },
): DatadogStatsExporter[] {
  const out: DatadogStatsExporter[] = [];
  for (const e of exporters) {
    if (e.type !== 'datadog') continue;
    const config = e.config as DatadogExporterConfig;
    if (!config.apm_stats) continue;
    if (config.api !== null) {
      deps.logger.warn({ exporter: e.id }, 'apm_stats is not supported agentless (api): no APM stats are sent for this exporter');
      continue;
    }
    out.push(new DatadogStatsExporter({ id: e.id, config, metrics: deps.metrics, logger: deps.logger, closeAfterMs: opts.closeAfterMs }));
  }
  return out;
}

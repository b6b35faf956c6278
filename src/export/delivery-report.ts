import type { StoredDecision } from '../evaluate/decision-store.ts';
import type { Logger } from '../telemetry/logger.ts';
import { LogGate } from '../telemetry/log-gate.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Delivery, DeliveryStore } from './delivery-store.ts';

/** Kept traces whose receipt time is held for the export-lag metric, at most. */
const RECEIPT_TIMES_KEPT = 100_000;

/**
 * When the last span of each kept trace reached the service, from its decision until it is exported,
 * so each exporter's acceptance can be timed from it (`tailsampler_export_lag_seconds`). In memory and
 * bounded (the oldest are forgotten first): decisions restored after a restart or beyond the bound
 * are not timed.
 */
class ReceiptTimes {
  readonly #max: number;
  readonly #byTrace = new Map<string, { receivedMs: number; firstSeq: number }>();

  constructor(max: number) {
    this.#max = max;
  }

  note(decisions: readonly StoredDecision[]): void {
    for (const d of decisions) {
      if (!d.keep || d.lastReceivedMs === undefined) continue;
      this.#byTrace.set(d.traceId, { receivedMs: d.lastReceivedMs, firstSeq: d.firstSeq });
      if (this.#byTrace.size > this.#max) this.#byTrace.delete(this.#byTrace.keys().next().value!);
    }
  }

  /** Seconds from the last span's receipt to `nowMs` for the trace's own delivery (not a late span's or a rescue's); null when not known. */
  lagSecs(d: Delivery, nowMs: number): number | null {
    const t = this.#byTrace.get(d.traceId);
    if (t === undefined || d.rescue != null || d.firstSeq !== t.firstSeq) return null;
    return Math.max(0, nowMs - t.receivedMs) / 1000;
  }

  forget(traceIds: Iterable<string>): void {
    for (const id of traceIds) this.#byTrace.delete(id);
  }
}

/**
 * What the emitter tells of delivery outcomes: the per-exporter counters, the export lag, one log line
 * per dead letter and a rate-limited line for retries (a dead destination fails every trace).
 */
export class DeliveryReport {
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #receipts = new ReceiptTimes(RECEIPT_TIMES_KEPT);
  readonly #retryLog = new LogGate(10_000);

  constructor(metrics: Metrics, logger: Logger) {
    this.#metrics = metrics;
    this.#logger = logger;
  }

  /** Kept traces just handed on (their receipt times start the export lag). */
  decided(kept: readonly StoredDecision[]): void {
    this.#receipts.note(kept);
  }

  /** Outcomes the store has just settled, `exported` the decisions they finished. */
  settled(outcome: Parameters<DeliveryStore['settle']>[0], exported: readonly StoredDecision[], nowMs: number): void {
    const m = this.#metrics;
    for (const d of outcome.delivered ?? []) {
      m.exporterDeliveredTraces.inc({ exporter: d.exporter });
      const lag = this.#receipts.lagSecs(d, nowMs);
      if (lag !== null) m.exportLag.observe({ exporter: d.exporter }, lag);
      if (d.rescue != null) m.rescueDeliveries.inc({ exporter: d.exporter, outcome: 'delivered' });
    }
    for (const { delivery: d, error } of outcome.retry ?? []) {
      m.exporterRetriedTraces.inc({ exporter: d.exporter });
      // One line per exporter per interval, with an example.
      const skipped = this.#retryLog.pass(d.exporter);
      if (skipped >= 0) this.#logger.warn({ exporter: d.exporter, traceId: d.traceId, attempts: d.attempts + 1, err: error, notLogged: skipped }, 'kept trace not delivered; it stays owed and is retried');
    }
    for (const { delivery: d, reason, error } of outcome.deadLetters ?? []) {
      m.exporterDeadLetteredTraces.inc({ exporter: d.exporter, reason });
      if (d.rescue != null) m.rescueDeliveries.inc({ exporter: d.exporter, outcome: 'dead_lettered' });
      this.#logger.error({ exporter: d.exporter, traceId: d.traceId, reason, err: error, ...(d.rescue != null ? { rescue: d.rescue } : {}) }, 'kept trace dead-lettered');
    }
    this.#receipts.forget(exported.map((d) => d.traceId));
  }
}

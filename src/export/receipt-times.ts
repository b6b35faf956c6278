import type { StoredDecision } from '../evaluate/decision-store.ts';
import type { Delivery } from './delivery-store.ts';

/**
 * When the last span of each kept trace reached the service, from its decision until it is exported,
 * so each exporter's acceptance can be timed from it (`tailsampler_export_lag_seconds`). In memory and
 * bounded (the oldest are forgotten first): decisions restored after a restart or beyond the bound
 * are not timed.
 */
export class ReceiptTimes {
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

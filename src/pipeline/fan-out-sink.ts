import type { StoredDecision } from '../evaluate/decision-store.ts';
import type { DecidedTrace, DecisionSink, LateRows } from './decision-sink.ts';

/**
 * Hands every call on to several sinks (the emitter, the audit table), each in the order given, one
 * after the other, as the Collector's fan-out consumer does. Started in that order (a failed start
 * shuts down those already started), shut down the other way round.
 */
export class FanOutSink implements DecisionSink {
  readonly #sinks: readonly DecisionSink[];
  #started: DecisionSink[] = [];

  constructor(sinks: readonly DecisionSink[]) {
    this.#sinks = sinks;
  }

  async start(): Promise<void> {
    try {
      for (const s of this.#sinks) {
        await s.start();
        this.#started.push(s);
      }
    } catch (err) {
      await this.shutdown();
      throw err;
    }
  }

  /** Shuts every started sink down even when one fails; the failures are thrown after. */
  async shutdown(): Promise<void> {
    const failures: unknown[] = [];
    for (const s of this.#started.splice(0).reverse()) {
      try {
        await s.shutdown();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length === 1) throw failures[0] as Error;
    if (failures.length > 1) throw new AggregateError(failures, 'decision sinks failed to shut down');
  }

  recording(traces: readonly DecidedTrace[]): void {
    for (const s of this.#sinks) s.recording?.(traces);
  }

  async decided(decisions: readonly StoredDecision[]): Promise<void> {
    for (const s of this.#sinks) await s.decided(decisions);
  }

  async late(rows: readonly LateRows[]): Promise<void> {
    for (const s of this.#sinks) await s.late(rows);
  }

  async released(owns: (traceId: string) => boolean): Promise<void> {
    for (const s of this.#sinks) await s.released(owns);
  }
}

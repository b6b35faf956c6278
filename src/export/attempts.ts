import { nextBackoff } from '../retry.ts';
import { deliveryKey, type DeadLetterReason, type Delivery, type DeliveryStore } from './delivery-store.ts';
import type { TraceExporter } from './exporter.ts';

/** One exporter's lane: what it has in flight, so a slow one only ever holds up itself. */
export interface Lane {
  exporter: TraceExporter;
  /** Requests handed to the exporter and not answered yet. */
  outstanding: number;
  /** Keys of deliveries being sent (not to be taken again by the next round). */
  sending: Set<string>;
  backlog: number;
}

/** One delivery being sent in a round: what the answers to the requests holding its rows said. */
export interface Attempt {
  lane: Lane;
  delivery: Delivery;
  /** Requests holding its rows not answered yet. */
  open: number;
  dispatched: boolean;
  rows: number;
  retryError: string | null;
  rejected: string | null;
  partial: string | null;
}

/**
 * What attempts whose every request was answered come to: delivered; owed again after the exporter's
 * backoff (a retryable failure); or dead-lettered (rejected, partly dropped by the destination, or no
 * rows left in the table). Frees their lanes' `sending` keys.
 */
export function outcomeOf(done: readonly Attempt[], nowMs: number): Parameters<DeliveryStore['settle']>[0] {
  const delivered: Delivery[] = [];
  const retry: { delivery: Delivery; nextAtMs: number; error: string }[] = [];
  const deadLetters: { delivery: Delivery; reason: DeadLetterReason; error: string }[] = [];
  for (const a of done) {
    a.lane.sending.delete(deliveryKey(a.delivery));
    const reason: DeadLetterReason | null =
      a.rejected !== null ? 'rejected' : a.partial !== null ? 'partial_success' : a.retryError === null && a.rows === 0 ? 'not_in_lake' : null;
    if (reason !== null) {
      deadLetters.push({ delivery: a.delivery, reason, error: a.rejected ?? a.partial ?? 'no rows of the trace are left in the table' });
    } else if (a.retryError !== null) {
      const { initial, max } = a.lane.exporter.delivery.retryIntervalMs;
      const delayMs = nextBackoff({ initialIntervalMs: initial, maxIntervalMs: max }, a.delivery.attempts + 1);
      retry.push({ delivery: a.delivery, nextAtMs: nowMs + delayMs, error: a.retryError });
    } else {
      delivered.push(a.delivery);
    }
  }
  return { delivered, retry, deadLetters };
}

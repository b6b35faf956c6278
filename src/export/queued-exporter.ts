import type { OtlpExporterConfig } from './config.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { DeliveryOptions, ExportResult, TraceExporter } from './exporter.ts';
import { ExportRetriesExhaustedError, ExporterShutdownError, messageOf } from './errors.ts';
import { runWithRetry } from './retry.ts';
import { SendingQueue, type QueueJob } from './sending-queue.ts';
import type { Sender } from './sender.ts';

/** How long shutdown lets queued requests go out before failing them, unless told otherwise. */
export const DEFAULT_SHUTDOWN_DRAIN_MS = 10_000;

export interface QueuedExporterOptions {
  id: string;
  sender: Sender;
  config: Pick<OtlpExporterConfig, 'timeout_ms' | 'retry_on_failure' | 'sending_queue' | 'max_batch_spans'>;
  metrics: Metrics;
  logger: Logger;
  shutdownDrainMs?: number;
  /** Backoff jitter source, for tests. */
  random?: () => number;
}

/**
 * The Collector's exporterhelper around one transport: bounded sending queue → retry with backoff →
 * per-attempt timeout → sender. Counts spans sent and failed (by outcome) and the queue's length.
 */
export class QueuedExporter implements TraceExporter {
  readonly id: string;
  readonly delivery: DeliveryOptions;
  readonly #sender: Sender;
  readonly #config: QueuedExporterOptions['config'];
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #drainMs: number;
  readonly #random: (() => number) | undefined;
  readonly #queue: SendingQueue<ExportResult>;
  #shutdown: Promise<void> | undefined;

  constructor(options: QueuedExporterOptions) {
    this.id = options.id;
    const { sending_queue: queue, retry_on_failure: retry } = options.config;
    this.delivery = {
      maxBatchSpans: options.config.max_batch_spans,
      capacity: queue.queue_size + queue.num_consumers,
      maxBacklogTraces: queue.max_backlog_traces,
      retryIntervalMs: { initial: retry.initial_interval_ms, max: retry.max_interval_ms },
    };
    this.#sender = options.sender;
    this.#config = options.config;
    this.#metrics = options.metrics;
    this.#logger = options.logger.child({ exporter: options.id });
    this.#drainMs = options.shutdownDrainMs ?? DEFAULT_SHUTDOWN_DRAIN_MS;
    this.#random = options.random;
    this.#metrics.exporterQueueSize.set({ exporter: this.id }, 0);
    this.#queue = new SendingQueue<ExportResult>({
      capacity: options.config.sending_queue.queue_size,
      consumers: options.config.sending_queue.num_consumers,
      onSizeChange: (size) => this.#metrics.exporterQueueSize.set({ exporter: this.id }, size),
    });
  }

  async start(): Promise<void> {
    this.#logger.info({ destination: this.#sender.description }, 'exporter started');
  }

  async export(request: Uint8Array, spanCount: number): Promise<ExportResult> {
    const { done } = await this.#queue.enqueue(this.#job(request, spanCount));
    return done;
  }

  /** Idempotent: later calls wait for the first one. */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      const left = this.#queue.size + this.#queue.inFlight;
      if (left > 0) this.#logger.info({ requests: left, drainMs: this.#drainMs }, 'draining sending queue');
      await this.#queue.shutdown(this.#drainMs);
      await this.#sender.close();
    })();
    return this.#shutdown;
  }

  #job(request: Uint8Array, spanCount: number): QueueJob<ExportResult> {
    return {
      run: (signal) => this.#send(request, spanCount, signal),
      drop: () => this.#failed(spanCount, 'shutdown', new ExporterShutdownError(this.id), true),
    };
  }

  async #send(request: Uint8Array, spanCount: number, signal: AbortSignal): Promise<ExportResult> {
    try {
      const result = await runWithRetry((s) => this.#sender.send(request, s), {
        retry: this.#config.retry_on_failure,
        timeoutMs: this.#config.timeout_ms,
        signal,
        ...(this.#random ? { random: this.#random } : {}),
        onRetry: (attempt, delayMs, error) =>
          this.#logger.warn({ attempt, delayMs: Math.round(delayMs), err: messageOf(error) }, 'export failed, will retry'),
      });
      // Partial success: the destination took the request but dropped some spans. Retrying would
      // duplicate the rest (the OTLP spec forbids it), so they are counted as rejected.
      const rejected = Math.min(Math.max(result.rejectedSpans, 0), spanCount);
      if (rejected > 0) {
        this.#metrics.exporterFailedSpans.inc({ exporter: this.id, outcome: 'rejected' }, rejected);
        this.#logger.warn({ rejectedSpans: rejected, spans: spanCount, reason: result.errorMessage }, 'destination rejected spans (partial success)');
      } else if (result.errorMessage !== '') {
        this.#logger.warn({ reason: result.errorMessage }, 'destination accepted the request with a warning');
      }
      if (spanCount - rejected > 0) this.#metrics.exporterSentSpans.inc({ exporter: this.id }, spanCount - rejected);
      return { ok: true, rejectedSpans: rejected };
    } catch (e) {
      if (signal.aborted) return this.#failed(spanCount, 'shutdown', new ExporterShutdownError(this.id), true);
      if (e instanceof ExportRetriesExhaustedError) return this.#failed(spanCount, 'retries_exhausted', e, true);
      return this.#failed(spanCount, 'permanent', e instanceof Error ? e : new Error(String(e)), false);
    }
  }

  /**
   * Counts a request that did not get through. Its traces are not lost: the emitter keeps them pending
   * (retryable) or dead-letters them (permanent) and says so per trace.
   */
  #failed(spanCount: number, outcome: 'permanent' | 'retries_exhausted' | 'shutdown', error: Error, retryable: boolean): ExportResult {
    if (spanCount > 0) this.#metrics.exporterFailedSpans.inc({ exporter: this.id, outcome }, spanCount);
    this.#logger.warn({ outcome, spans: spanCount, err: error.message }, 'export request failed');
    return { ok: false, retryable, error };
  }
}

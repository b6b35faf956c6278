import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import pkg from '../../../package.json' with { type: 'json' };
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import { ExportEncodeError, messageOf } from '../errors.ts';
import type { DeliveryOptions, ExportContext, ExportResult, TraceExporter } from '../exporter.ts';
import { QueuedExporter } from '../queued-exporter.ts';
import type { Sender } from '../sender.ts';
import type { DatadogExporterConfig } from './config.ts';
import { mapRequest } from './mapping.ts';
import { buildAgentPayloads, buildV04Payloads, type Payload } from './payloads.ts';
import { DatadogSender } from './sender.ts';

const gzipAsync = promisify(gzip);

export const VERSION: string = pkg.version;

export interface DatadogExporterOptions {
  id: string;
  config: DatadogExporterConfig;
  metrics: Metrics;
  logger: Logger;
  shutdownDrainMs?: number;
  /** Replaces the HTTP sender (tests). */
  sender?: Sender;
  /** Backoff jitter source, for tests. */
  random?: () => number;
}

/** The intake's base URL for a site, as the Agent builds it. */
export function intakeEndpoint(api: NonNullable<DatadogExporterConfig['api']>): string {
  return api.endpoint ?? `https://trace.agent.${api.site}`;
}

/**
 * Kept traces to Datadog, through a Datadog Agent (v0.4 msgpack) or straight to the intake with an API
 * key (agentless, protobuf AgentPayload). Each request is decoded once and mapped as the Agent maps
 * OTLP; every trace is marked kept by a user decision (priority 2, decision maker -4) with the policy
 * that kept it; the result is cut into payloads of at most `max_request_bytes`, each queued, retried
 * and counted by the Collector-style QueuedExporter over a DatadogSender.
 */
export class DatadogExporter implements TraceExporter {
  readonly id: string;
  readonly delivery: DeliveryOptions;
  readonly #queued: QueuedExporter;
  readonly #agentless: boolean;
  readonly #maxBytes: number;
  readonly #hostName = hostname();
  readonly #metrics: Metrics;
  readonly #logger: Logger;

  constructor(options: DatadogExporterOptions) {
    const c = options.config;
    this.id = options.id;
    this.#agentless = c.api !== null;
    this.#maxBytes = c.max_request_bytes;
    this.#metrics = options.metrics;
    this.#logger = options.logger.child({ exporter: options.id });
    const sender =
      options.sender ??
      new DatadogSender(
        c.api === null
          ? { mode: 'agent', endpoint: c.endpoint, clientComputedStats: c.apm_stats, version: VERSION }
          : { mode: 'agentless', endpoint: intakeEndpoint(c.api), apiKey: c.api.key, version: VERSION },
      );
    this.#queued = new QueuedExporter({
      id: options.id,
      sender,
      config: c,
      metrics: options.metrics,
      logger: options.logger,
      ...(options.shutdownDrainMs === undefined ? {} : { shutdownDrainMs: options.shutdownDrainMs }),
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    this.delivery = this.#queued.delivery;
  }

  start(): Promise<void> {
    return this.#queued.start();
  }

  shutdown(): Promise<void> {
    return this.#queued.shutdown();
  }

  async export(request: Uint8Array, spanCount: number, context?: ExportContext): Promise<ExportResult> {
    let payloads: Payload[];
    try {
      payloads = await this.#encode(request, context);
    } catch (e) {
      const error = new ExportEncodeError(`datadog exporter cannot map the request: ${messageOf(e)}`, e);
      if (spanCount > 0) this.#metrics.exporterFailedSpans.inc({ exporter: this.id, outcome: 'permanent' }, spanCount);
      this.#logger.warn({ outcome: 'permanent', spans: spanCount, err: error.message }, 'export request failed');
      return { ok: false, retryable: false, error };
    }
    // Each payload is queued, retried and counted on its own; the request succeeded when all did.
    const results = await Promise.all(payloads.map((p) => this.#queued.export(p.body, p.spans)));
    return combine(results);
  }

  async #encode(request: Uint8Array, context: ExportContext | undefined): Promise<Payload[]> {
    const mapped = mapRequest(request, { policies: context?.policies });
    if (!this.#agentless) return buildV04Payloads(mapped, this.#maxBytes);
    const payloads = buildAgentPayloads(mapped, this.#maxBytes, { hostName: this.#hostName, agentVersion: `tailsampler-${VERSION}` });
    return Promise.all(payloads.map(async (p) => ({ ...p, body: new Uint8Array(await gzipAsync(p.body)) })));
  }
}

/**
 * One answer for a request sent as several payloads: accepted when every payload was; else the first
 * permanent failure (the traces cannot get through as they are), else a retryable one with the
 * longest throttling hint.
 */
export function combine(results: readonly ExportResult[]): ExportResult {
  let rejected = 0;
  let retryable: Extract<ExportResult, { ok: false }> | undefined;
  for (const r of results) {
    if (r.ok) {
      rejected += r.rejectedSpans;
      continue;
    }
    if (!r.retryable) return r;
    if (retryable === undefined || (r.retryAfterMs ?? 0) > (retryable.retryAfterMs ?? 0)) retryable = r;
  }
  return retryable ?? { ok: true, rejectedSpans: rejected };
}

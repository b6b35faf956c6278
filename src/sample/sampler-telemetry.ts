import type { Logger } from '../telemetry/logger.ts';
import { LogGate } from '../telemetry/log-gate.ts';
import type { Metrics } from '../telemetry/metrics.ts';

/** Text columns attribute policies parse: span attributes (a KeyValue list) and the resource (an object). */
export type AttributeColumn = 'attributes' | 'resource';

export interface SamplerDeps {
  metrics: Metrics;
  logger: Logger;
  /** At most one log line per policy, and per attribute column, per this many ms (default 60 s). */
  problemLogIntervalMs?: number;
  /** Clock of that interval (tests). */
  now?: () => number;
}

export const DEFAULT_PROBLEM_LOG_INTERVAL_MS = 60_000;

/**
 * Where the sampler reports what goes wrong while deciding: every occurrence is counted, and the
 * log gets one line with an example per policy (per column) per interval, never one per trace.
 */
export class SamplerTelemetry {
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #intervalSecs: number;
  readonly #policyGate: LogGate;
  readonly #columnGate: LogGate;

  constructor(deps: SamplerDeps, policyNames: readonly string[]) {
    this.#metrics = deps.metrics;
    this.#logger = deps.logger;
    const intervalMs = deps.problemLogIntervalMs ?? DEFAULT_PROBLEM_LOG_INTERVAL_MS;
    this.#intervalSecs = intervalMs / 1000;
    this.#policyGate = new LogGate(intervalMs, deps.now);
    this.#columnGate = new LogGate(intervalMs, deps.now);
    // Every series exists from the start at 0, so rate() and absence alerts work before the first error.
    for (const policy of policyNames) deps.metrics.policyEvaluationErrors.inc({ policy }, 0);
    for (const column of ['attributes', 'resource'] as const) deps.metrics.policyAttributeParseErrors.inc({ column }, 0);
  }

  /** A top-level policy threw while evaluating a trace (it then has no vote on that trace). */
  policyFailed(policy: string, traceId: string, err: unknown): void {
    this.#metrics.policyEvaluationErrors.inc({ policy });
    const suppressed = this.#policyGate.pass(policy);
    if (suppressed < 0) return;
    this.#logger.error(
      { policy, traceId, err, suppressed },
      `sampling policy failed to evaluate a trace and had no vote in its decision; ` +
        `every failure is counted in tailsampler_policy_evaluation_errors_total, one is logged per policy per ${this.#intervalSecs} s`,
    );
  }

  /**
   * A span's attributes text, or a resource text, is not the OTLP/JSON the table should hold; the
   * policies read that span (resource) as having no attributes.
   */
  attributesUnreadable(column: AttributeColumn, traceId: string, err: unknown): void {
    this.#metrics.policyAttributeParseErrors.inc({ column });
    const suppressed = this.#columnGate.pass(column);
    if (suppressed < 0) return;
    this.#logger.warn(
      { column, traceId, err, suppressed },
      `${column} text of a span is not valid OTLP/JSON; attribute policies read it as no attributes; ` +
        `every occurrence is counted in tailsampler_policy_attribute_parse_errors_total, one is logged per column per ${this.#intervalSecs} s`,
    );
  }
}

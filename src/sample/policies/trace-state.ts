import type { ColumnName } from '../../lake/span-schema.ts';
import { traceStateValue } from '../tracestate.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

/** Sampled when any span's W3C tracestate has member `key` with one of `values` (exact match). */
export class TraceStatePolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  readonly #key: string;
  readonly #values: Set<string>;

  constructor(name: string, key: string, values: readonly string[]) {
    this.name = name;
    this.#key = key;
    // otelcol ignores empty values and members longer than W3C's 256 characters.
    this.#values = new Set(values.filter((v) => v !== '' && key.length + v.length < 256));
  }

  evaluate(ctx: EvalContext): Decision {
    const spans = ctx.view.spans;
    const col = spans.trace_state;
    if (col === undefined) return NOT_SAMPLED;
    const needle = `${this.#key}=`;
    for (let i = 0; i < spans.length; i++) {
      const ts = col[i];
      if (ts == null || !ts.includes(needle)) continue;
      const v = traceStateValue(ts, this.#key);
      if (v !== null && this.#values.has(v)) return SAMPLED;
    }
    return NOT_SAMPLED;
  }

  collectColumns(into: Set<ColumnName>): void {
    into.add('trace_state');
  }
}

import type { ColumnName } from '../../lake/span-schema.ts';
import { NOT_SAMPLED, SAMPLED, type Decision, type EvalContext, type PolicyEvaluator } from './decision.ts';

const CODE = { UNSET: 0, OK: 1, ERROR: 2 } as const;

/**
 * Sampled when any span's status is one of `status_codes`. ERROR is answered from the summary's
 * errorCount; OK and UNSET need the status_code column, read only when the list names them.
 */
export class StatusCodePolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  readonly #error: boolean;
  readonly #ok: boolean;
  readonly #unset: boolean;

  constructor(name: string, codes: readonly ('ERROR' | 'OK' | 'UNSET')[]) {
    this.name = name;
    this.#error = codes.includes('ERROR');
    this.#ok = codes.includes('OK');
    this.#unset = codes.includes('UNSET');
  }

  evaluate(ctx: EvalContext): Decision {
    if (this.#error && ctx.trace.summary.errorCount > 0) return SAMPLED;
    if (!this.#ok && !this.#unset) return NOT_SAMPLED;
    const spans = ctx.view.spans;
    const col = spans.status_code;
    if (col === undefined) return NOT_SAMPLED;
    for (let i = 0; i < spans.length; i++) {
      const c = col[i];
      if ((this.#ok && c === CODE.OK) || (this.#unset && c === CODE.UNSET)) return SAMPLED;
    }
    return NOT_SAMPLED;
  }

  collectColumns(into: Set<ColumnName>): void {
    if (this.#ok || this.#unset) into.add('status_code');
  }
}

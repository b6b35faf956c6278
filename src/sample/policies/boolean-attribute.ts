import type { ColumnName } from '../../lake/span-schema.ts';
import type { Decision, EvalContext, PolicyEvaluator } from './decision.ts';
import { attributeDecision, type ValueMatcher } from './attribute-match.ts';
import { boolOf, type AttributeKeys } from './trace-view.ts';

/**
 * Boolean attribute equal to `value`. A non-bool value reads as false (pcommon's Value.Bool()), so
 * with `value: false` any non-bool value under the key matches, exactly as in otelcol.
 */
export class BooleanAttributePolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  readonly #key: number;
  readonly #invert: boolean;
  readonly #match: ValueMatcher;

  constructor(name: string, keys: AttributeKeys, key: string, value: boolean, invert: boolean) {
    this.name = name;
    this.#key = keys.register(key);
    this.#invert = invert;
    this.#match = (v) => boolOf(v) === value;
  }

  evaluate(ctx: EvalContext): Decision {
    return attributeDecision(ctx.view, this.#key, this.#match, this.#invert);
  }

  collectColumns(into: Set<ColumnName>): void {
    into.add('attributes');
    into.add('resource');
  }
}

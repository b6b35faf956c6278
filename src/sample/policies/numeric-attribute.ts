import type { ColumnName } from '../../lake/span-schema.ts';
import type { Decision, EvalContext, PolicyEvaluator } from './decision.ts';
import { attributeDecision, type ValueMatcher } from './attribute-match.ts';
import { intOf, type AttributeKeys } from './trace-view.ts';

/**
 * Integer attribute in [min_value, max_value]. As in otelcol a bound of 0 means "unbounded", and a
 * non-integer value reads as 0 (pcommon's Value.Int()), so a double attribute is not compared.
 */
export class NumericAttributePolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  readonly #key: number;
  readonly #invert: boolean;
  readonly #match: ValueMatcher;

  constructor(name: string, keys: AttributeKeys, key: string, minValue: number, maxValue: number, invert: boolean) {
    this.name = name;
    this.#key = keys.register(key);
    this.#invert = invert;
    const min = minValue === 0 ? -Infinity : minValue;
    const max = maxValue === 0 ? Infinity : maxValue;
    this.#match = (v) => {
      const n = intOf(v);
      return n >= min && n <= max;
    };
  }

  evaluate(ctx: EvalContext): Decision {
    return attributeDecision(ctx.view, this.#key, this.#match, this.#invert);
  }

  collectColumns(into: Set<ColumnName>): void {
    into.add('attributes');
    into.add('resource');
  }
}

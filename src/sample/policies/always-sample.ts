import type { ColumnName } from '../../lake/span-schema.ts';
import { SAMPLED, type Decision, type PolicyEvaluator } from './decision.ts';

export class AlwaysSample implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  constructor(name: string) {
    this.name = name;
  }
  evaluate(): Decision {
    return SAMPLED;
  }
  collectColumns(_into: Set<ColumnName>): void {}
}

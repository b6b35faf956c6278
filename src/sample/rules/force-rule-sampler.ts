import type { ColumnName } from '../../lake/span-schema.ts';
import type { SamplingDecision, Sampler, TraceData } from '../sampler.ts';
import type { SamplerTelemetry } from '../sampler-telemetry.ts';
import { compileRule, type CompiledRule } from './rule-matcher.ts';
import type { ForceRule } from './rule-store.ts';
import { TraceFacts } from './trace-facts.ts';

/** `SamplingDecision.policy` of a trace a force rule decided: `force_rule:<id>`. */
export const FORCE_RULE_POLICY_PREFIX = 'force_rule:';
/** The `policy` metric label of every force-rule decision (rule ids are unbounded). */
export const FORCE_RULE_LABEL = 'force_rule';

/** The metric label for a decision's policy: rule decisions share one label. */
export function policyLabel(policy: string): string {
  return policy.startsWith(FORCE_RULE_POLICY_PREFIX) ? FORCE_RULE_LABEL : policy;
}

/**
 * An immutable set of enabled rules, compiled and ordered as they are consulted: higher priority
 * first, ties to the older rule, then by id (so every replica orders a set alike).
 */
export class RuleSet {
  static readonly EMPTY = new RuleSet([]);
  readonly rules: readonly CompiledRule[];
  /** Columns any rule of the set reads. */
  readonly columns: readonly ColumnName[];

  constructor(rules: readonly CompiledRule[]) {
    this.rules = [...rules].sort(
      (a, b) => b.rule.priority - a.rule.priority || a.createdMs - b.createdMs || (a.rule.id < b.rule.id ? -1 : a.rule.id > b.rule.id ? 1 : 0),
    );
    this.columns = [...new Set(rules.flatMap((r) => r.columns))];
  }

  /** Compiles validated rules, leaving out disabled ones (expired ones stay until decide time passes them by). */
  static of(rules: readonly ForceRule[]): RuleSet {
    return new RuleSet(rules.filter((r) => r.enabled).map(compileRule));
  }

  get size(): number {
    return this.rules.length;
  }

  /** Rules not expired at `nowMs`. */
  inForce(nowMs: number): number {
    let n = 0;
    for (const r of this.rules) if (r.expiresMs > nowMs) n++;
    return n;
  }
}

/** Where the sampler finds the rules in force now (the store swaps its set on every reload). */
export interface RuleSource {
  current(): RuleSet;
}

/**
 * Force rules before the policies: the first rule in order that is unexpired at decide time and
 * matches the trace decides it (`policy` = `force_rule:<id>`; a kept trace is kept with probability
 * 1, threshold "0"); with none, the policies decide as before.
 *
 * `requiredColumns` is the policies' plus what the rules in force read, recomputed when the set
 * changes; with no rule reading span columns it is the policies' own, so nothing extra is read. A
 * rule whose columns a trace's rows lack (it came into force after the evaluator read the batch)
 * is skipped for that trace. A rule that throws is counted as a failure of policy `force_rule`
 * and skipped.
 */
export class ForceRuleSampler implements Sampler {
  readonly policyNames: readonly string[];
  readonly #base: Sampler;
  readonly #source: RuleSource;
  readonly #telemetry: SamplerTelemetry;
  readonly #facts: TraceFacts;
  #columnsOf: RuleSet | null = null;
  #columns: readonly ColumnName[] = [];

  constructor(base: Sampler, source: RuleSource, telemetry: SamplerTelemetry) {
    this.#base = base;
    this.#source = source;
    this.#telemetry = telemetry;
    this.policyNames = base.policyNames;
    this.#facts = new TraceFacts((column, traceId, err) => telemetry.attributesUnreadable(column, traceId, err));
  }

  get requiredColumns(): readonly ColumnName[] {
    const set = this.#source.current();
    if (set !== this.#columnsOf) {
      this.#columnsOf = set;
      const base = this.#base.requiredColumns;
      const extra = set.columns.filter((c) => !base.includes(c));
      this.#columns = extra.length === 0 ? base : [...base, ...extra];
    }
    return this.#columns;
  }

  decide(trace: TraceData, nowMs: number): SamplingDecision {
    const set = this.#source.current();
    if (set.size > 0) {
      const rule = this.#firstMatch(set, trace, nowMs);
      if (rule !== null) {
        const policy = FORCE_RULE_POLICY_PREFIX + rule.id;
        return rule.action === 'keep' ? { keep: true, policy, threshold: '0' } : { keep: false, policy, threshold: null };
      }
    }
    return this.#base.decide(trace, nowMs);
  }

  #firstMatch(set: RuleSet, trace: TraceData, nowMs: number): ForceRule | null {
    let reset = false;
    for (const r of set.rules) {
      if (r.expiresMs <= nowMs || !r.canRead(trace)) continue;
      if (!reset) {
        this.#facts.reset(trace);
        reset = true;
      }
      try {
        if (r.matches(this.#facts)) return r.rule;
      } catch (err) {
        this.#telemetry.policyFailed(FORCE_RULE_LABEL, trace.summary.traceId, err);
      }
    }
    return null;
  }
}

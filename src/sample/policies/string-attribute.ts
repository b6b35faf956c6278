import type { ColumnName } from '../../lake/span-schema.ts';
import type { Decision, EvalContext, PolicyEvaluator } from './decision.ts';
import { attributeDecision, type ValueMatcher } from './attribute-match.ts';
import { strOf, type AttributeKeys } from './trace-view.ts';

/** Largest number of regex results remembered per policy (otelcol's default cache_max_size). */
const DEFAULT_CACHE_SIZE = 128;

/**
 * String attribute equal to one of `values`, or, with enabled_regex_matching, matching one of them
 * as an unanchored regular expression (Go's MatchString finds a match anywhere, so does RegExp.test).
 * As in otelcol an empty span value never matches and a non-string value reads as "".
 */
export class StringAttributePolicy implements PolicyEvaluator {
  readonly name: string;
  readonly deterministic = true;
  readonly #key: number;
  readonly #invert: boolean;
  readonly #match: ValueMatcher;

  constructor(
    name: string,
    keys: AttributeKeys,
    cfg: { key: string; values: string[]; enabled_regex_matching: boolean; cache_max_size?: number | undefined; invert_match: boolean },
  ) {
    this.name = name;
    this.#key = keys.register(cfg.key);
    this.#invert = cfg.invert_match;
    const test = cfg.enabled_regex_matching ? regexTester(cfg.values, cfg.cache_max_size) : exactTester(cfg.values);
    this.#match = (v, onSpan) => {
      const s = strOf(v);
      return onSpan && s === '' ? false : test(s);
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

function exactTester(values: string[]): (s: string) => boolean {
  // otelcol leaves "" out of the exact-match set.
  const set = new Set(values.filter((v) => v !== ''));
  return (s) => set.has(s);
}

/** Attribute values repeat a lot (routes, service names), so results are cached like otelcol's LRU. */
function regexTester(values: string[], cacheMaxSize: number | undefined): (s: string) => boolean {
  const res = values.map((v) => new RegExp(v));
  const limit = cacheMaxSize !== undefined && cacheMaxSize > 0 ? cacheMaxSize : DEFAULT_CACHE_SIZE;
  const cache = new Map<string, boolean>();
  return (s) => {
    const hit = cache.get(s);
    if (hit !== undefined) {
      cache.delete(s);
      cache.set(s, hit);
      return hit;
    }
    let matched = false;
    for (const re of res) {
      if (re.test(s)) {
        matched = true;
        break;
      }
    }
    if (cache.size >= limit) cache.delete(cache.keys().next().value!);
    cache.set(s, matched);
    return matched;
  };
}

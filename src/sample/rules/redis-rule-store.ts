import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { Component } from '../../component.ts';
import { LogGate } from '../../telemetry/log-gate.ts';
import type { Logger } from '../../telemetry/logger.ts';
import type { Metrics } from '../../telemetry/metrics.ts';
import type { ForceRulesConfig } from './config.ts';
import { RuleStoreUnavailableError, RuleValidationError } from './errors.ts';
import { RuleSet, type RuleSource } from './force-rule-sampler.ts';
import { createRedisClient, describeEndpoint, type RedisClient } from './redis-client.ts';
import { parseRuleInput, parseStoredRule, parseTtl } from './rule-schema.ts';
import type { ForceRule, RuleStore, RuleStoreHealth } from './rule-store.ts';

export interface RedisRuleStoreDeps {
  metrics: Metrics;
  logger: Logger;
  /** Clock of rule creation and expiry (tests). */
  now?: () => number;
}

/** Replaces a rule's JSON only if it is still what the caller read (an empty new value deletes it). */
const COMPARE_AND_SET = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
  return 1
end
return 0`;

/** Read-modify-write attempts before a change racing with others gives up. */
const CAS_ATTEMPTS = 5;
const LOG_INTERVAL_MS = 60_000;

const iso = (ms: number): string => new Date(ms).toISOString();

/** In-force order: higher priority first, then the older rule, then by id. */
function byPrecedence(a: ForceRule, b: ForceRule): number {
  return b.priority - a.priority || Date.parse(a.created_at) - Date.parse(b.created_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Force rules in Redis, shared by every replica: each rule is a JSON value in the hash
 * `<prefix>rules` under its id; a change is announced on `<prefix>rules:changed`. Every replica
 * subscribes and reloads the whole hash on each notice, every `reload_interval_secs`, at the next
 * expiry, and whenever its connection comes back, so a change missed while disconnected (or written
 * without a notice) is caught. A failed reload keeps the last good set in force; failures count in
 * `tailsampler_force_rules_errors_total` and show in `tailsampler_force_rules_store_up`. Expired
 * rules stop deciding at once (the sampler checks the expiry per trace) and are deleted from the
 * hash by the next reload that sees them.
 */
export class RedisRuleStore implements RuleStore, RuleSource, Component {
  readonly #config: ForceRulesConfig;
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #gate = new LogGate(LOG_INTERVAL_MS);
  readonly #hashKey: string;
  readonly #channel: string;
  readonly #where: string;
  #client: RedisClient | null = null;
  #sub: RedisClient | null = null;
  #set = RuleSet.EMPTY;
  #loadedOk = false;
  #lastLoadMs: number | null = null;
  #lastError: string | null = null;
  #reloading: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #expiryTimer: NodeJS.Timeout | null = null;
  #stopped = false;
  #subscribed = false;

  constructor(config: ForceRulesConfig, deps: RedisRuleStoreDeps) {
    this.#config = config;
    this.#metrics = deps.metrics;
    this.#logger = deps.logger;
    this.#now = deps.now ?? Date.now;
    this.#hashKey = `${config.redis.key_prefix}rules`;
    this.#channel = `${config.redis.key_prefix}rules:changed`;
    this.#where = describeEndpoint(config.redis);
    for (const reason of ['reload', 'invalid_rule', 'publish', 'prune']) this.#metrics.forceRulesErrors.inc({ reason }, 0);
    this.#metrics.forceRulesStoreUp.set(0);
    this.#metrics.forceRulesInForce.set(0);
  }

  /**
   * Connects, subscribes and loads the rules. Redis being unreachable does not fail the start: the
   * replica runs without rules (store_up 0) and loads them as soon as Redis answers.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    const client = await createRedisClient(this.#config.redis);
    const sub: RedisClient = client instanceof Cluster ? client.duplicate() : client.duplicate();
    this.#client = client;
    this.#sub = sub;
    for (const [name, c] of [['client', client], ['subscriber', sub]] as const) {
      c.on('error', (err: Error) => this.#problem(`redis_${name}`, err, `force-rule store: Redis ${name} connection error; reconnecting`));
      c.on('ready', () => {
        this.#refreshUp();
        this.requestReload();
      });
      c.on('close', () => this.#refreshUp());
      c.on('end', () => this.#refreshUp());
    }
    // autoResubscribe renews a subscription after a reconnect, but not one that never succeeded
    // (Redis down at start).
    sub.on('ready', () => {
      if (!this.#subscribed) void this.#subscribe(sub);
    });
    sub.on('message', (channel: string) => {
      if (channel === this.#channel) this.requestReload();
    });
    // Each connection retries on its own after a failed first attempt; 'ready' then subscribes and reloads.
    const connected = await Promise.allSettled([client.connect(), sub.connect()]);
    const failed = connected.find((r) => r.status === 'rejected');
    if (failed === undefined) {
      await this.#subscribe(sub);
      await this.reload();
    } else {
      const err = failed.reason as Error;
      this.#lastError = err.message;
      this.#logger.warn({ err, redis: this.#where }, 'force-rule store: Redis not reachable at start; running without force rules until it answers');
    }
    this.#refreshUp();
    this.#schedule();
    this.#logger.info({ redis: this.#where, rules: this.#set.size, key: this.#hashKey }, 'force-rule store started');
  }

  async #subscribe(sub: RedisClient): Promise<void> {
    try {
      await sub.subscribe(this.#channel);
      this.#subscribed = true;
      this.#refreshUp();
    } catch (err) {
      this.#problem('subscribe', err, 'force-rule store: subscribing to change notices failed; retried when the connection is ready again');
    }
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#timer = this.#expiryTimer = null;
    await this.#reloading;
    this.#sub?.disconnect();
    this.#client?.disconnect();
    this.#sub = this.#client = null;
    this.#subscribed = false;
    this.#refreshUp();
  }

  current(): RuleSet {
    return this.#set;
  }

  health(): RuleStoreHealth {
    return { connected: this.#isUp(), rules: this.#set.inForce(this.#now()), lastLoadMs: this.#lastLoadMs, lastError: this.#lastError };
  }

  /** Asks for a full reload; reloads asked for while one runs are served by one more after it. */
  requestReload(): void {
    if (this.#stopped || this.#client === null) return;
    if (this.#reloading !== null) {
      this.#again = true;
      return;
    }
    this.#reloading = (async () => {
      do {
        this.#again = false;
        await this.#load();
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#reloading = null;
    });
  }

  /** A full reload now (after any running one); resolves when the set in force reflects Redis, or kept the last good one. */
  async reload(): Promise<void> {
    await this.#reloading;
    this.requestReload();
    await this.#reloading;
  }

  async list(): Promise<ForceRule[]> {
    const entries = await this.#call((c) => c.hgetall(this.#hashKey));
    const now = this.#now();
    const rules: ForceRule[] = [];
    for (const text of Object.values(entries)) {
      const r = parseStoredRule(text);
      if (!(r instanceof Error) && Date.parse(r.expires_at) > now) rules.push(r);
    }
    return rules.sort(byPrecedence);
  }

  async get(id: string): Promise<ForceRule | null> {
    const text = await this.#call((c) => c.hget(this.#hashKey, id));
    if (text === null) return null;
    const r = parseStoredRule(text);
    return r instanceof Error || Date.parse(r.expires_at) <= this.#now() ? null : r;
  }

  async create(input: unknown, principal: string): Promise<ForceRule> {
    const v = parseRuleInput(input);
    const max = this.#config.max_rules;
    if ((await this.list()).length >= max) {
      throw new RuleValidationError([{ path: '', message: `the store holds ${max} rules (force_rules.max_rules): delete some or let them expire first` }]);
    }
    const now = this.#now();
    const rule: ForceRule = {
      id: randomUUID(),
      action: v.action,
      match: v.match,
      priority: v.priority,
      enabled: v.enabled,
      reason: v.reason,
      created_by: principal,
      created_at: iso(now),
      expires_at: iso(now + v.ttl_secs * 1000),
    };
    await this.#call((c) => c.hset(this.#hashKey, rule.id, JSON.stringify(rule)));
    await this.#changed(rule.id);
    this.#logger.info({ rule: rule.id, action: rule.action, created_by: principal, expires_at: rule.expires_at }, 'force rule created');
    return rule;
  }

  async extend(id: string, ttlSecs: number): Promise<ForceRule | null> {
    const ttl = parseTtl(ttlSecs);
    return this.#update(id, (r) => ({ ...r, expires_at: iso(this.#now() + ttl * 1000) }));
  }

  async setEnabled(id: string, enabled: boolean): Promise<ForceRule | null> {
    return this.#update(id, (r) => ({ ...r, enabled }));
  }

  async delete(id: string): Promise<boolean> {
    const n = await this.#call((c) => c.hdel(this.#hashKey, id));
    if (n > 0) await this.#changed(id);
    return n > 0;
  }

  /** Read, change, compare-and-set; again when another writer changed the rule in between. */
  async #update(id: string, change: (r: ForceRule) => ForceRule): Promise<ForceRule | null> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const text = await this.#call((c) => c.hget(this.#hashKey, id));
      if (text === null) return null;
      const old = parseStoredRule(text);
      if (old instanceof Error || Date.parse(old.expires_at) <= this.#now()) return null;
      const next = change(old);
      const ok = await this.#call((c) => c.eval(COMPARE_AND_SET, 1, this.#hashKey, id, text, JSON.stringify(next)));
      if (ok === 1) {
        await this.#changed(id);
        return next;
      }
    }
    throw new RuleStoreUnavailableError(`force rule ${id} kept changing under ${CAS_ATTEMPTS} attempts to update it; try again`);
  }

  /** Tells every replica (this one at once) that the rules changed. */
  async #changed(id: string): Promise<void> {
    try {
      await this.#client!.publish(this.#channel, id);
    } catch (err) {
      this.#metrics.forceRulesErrors.inc({ reason: 'publish' });
      this.#problem('publish', err, 'force-rule store: change notice not published; other replicas see the change at their next full reload');
    }
    await this.reload();
  }

  async #call<T>(op: (c: RedisClient) => Promise<T>): Promise<T> {
    const client = this.#client;
    if (client === null) throw new RuleStoreUnavailableError('the force-rule store is not started');
    try {
      return await op(client);
    } catch (err) {
      throw new RuleStoreUnavailableError(`force-rule store (Redis ${this.#where}) did not answer: ${(err as Error).message}`, err);
    }
  }

  async #load(): Promise<void> {
    const client = this.#client;
    if (client === null) return;
    let entries: Record<string, string>;
    try {
      entries = await client.hgetall(this.#hashKey);
    } catch (err) {
      this.#loadedOk = false;
      this.#lastError = (err as Error).message;
      this.#metrics.forceRulesErrors.inc({ reason: 'reload' });
      this.#refreshUp();
      this.#problem('reload', err, 'force-rule store: reload failed; the last good set of rules stays in force');
      return;
    }
    const now = this.#now();
    const rules: ForceRule[] = [];
    const expired: [string, string][] = [];
    for (const [id, text] of Object.entries(entries)) {
      const r = parseStoredRule(text);
      if (r instanceof Error || r.id !== id) {
        this.#metrics.forceRulesErrors.inc({ reason: 'invalid_rule' });
        const err = r instanceof Error ? r : new Error(`stored under id ${id} but says ${r.id}`);
        this.#problem('invalid_rule', err, `force-rule store: entry ${id} of ${this.#hashKey} is not a valid rule; skipped`);
      } else if (Date.parse(r.expires_at) <= now) expired.push([id, text]);
      else rules.push(r);
    }
    this.#set = RuleSet.of(rules);
    this.#loadedOk = true;
    this.#lastLoadMs = now;
    this.#lastError = null;
    this.#metrics.forceRulesInForce.set(this.#set.inForce(now));
    this.#metrics.forceRulesLastLoad.set(now / 1000);
    this.#refreshUp();
    this.#scheduleExpiry(rules, now);
    for (const [id, text] of expired) {
      try {
        await client.eval(COMPARE_AND_SET, 1, this.#hashKey, id, text, '');
      } catch (err) {
        this.#metrics.forceRulesErrors.inc({ reason: 'prune' });
        this.#problem('prune', err, 'force-rule store: an expired rule could not be deleted; it is ignored and tried again at the next reload');
      }
    }
  }

  /** A reload just after the next rule expires, so the gauge, health and the hash follow expiry promptly. */
  #scheduleExpiry(rules: readonly ForceRule[], now: number): void {
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    if (this.#stopped || rules.length === 0) return;
    const next = Math.min(...rules.map((r) => Date.parse(r.expires_at)));
    this.#expiryTimer = setTimeout(() => this.requestReload(), Math.min(Math.max(0, next - now) + 10, 2 ** 31 - 1));
    this.#expiryTimer.unref();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.requestReload();
      this.#schedule();
    }, this.#config.reload_interval_secs * 1000);
    this.#timer.unref();
  }

  #isUp(): boolean {
    return this.#loadedOk && this.#subscribed && this.#client?.status === 'ready' && this.#sub?.status === 'ready';
  }

  #refreshUp(): void {
    const up = this.#isUp();
    if (!up && this.#client?.status !== 'ready') this.#loadedOk = false;
    this.#metrics.forceRulesStoreUp.set(up ? 1 : 0);
  }

  #problem(key: string, err: unknown, message: string): void {
    const suppressed = this.#gate.pass(key);
    if (suppressed >= 0) this.#logger.warn({ err, redis: this.#where, suppressed }, message);
  }
}

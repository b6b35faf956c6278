import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { ForceRule } from '../sample/rules/rule-store.ts';
import { AdminRequestError, adminOptionsFrom, adminRequest, type AdminClientOptions } from './admin-client.ts';
import { UsageError, formatDuration, formatMatch, parseCondition, parseDuration } from './rule-syntax.ts';

export const RULES_USAGE = `usage: tailsampler rules <command> [options]
  add (--keep|--drop) --ttl DURATION [--priority N] [--reason TEXT] [--disabled]
      [--trace-id HEX] [--resource COND]... [--span COND]... [--match-json JSON]
  add --body JSON|@FILE                  the whole rule as the API takes it
  list                                   rules in force, most urgent first
  get ID | delete ID | enable ID | disable ID
  extend ID --ttl DURATION               expiry moved to now + DURATION
options for all:
  --admin URL        admin API (default $TAILSAMPLER_ADMIN_URL, else http://127.0.0.1:8889)
  --token-file FILE  bearer token from a file (default $TAILSAMPLER_ADMIN_TOKEN)
  --json             machine output: the API's JSON
COND (one span must satisfy every --span; every --resource must hold):
  key=v  key!=v  key^=prefix  key$=suffix  key*=text  key~=regex
  key>=n  key>n  key<=n  key<n  'key in a,b,c'  'key exists'
DURATION: seconds, or 90s, 15m, 1h, 1h30m, 2d
exit codes: 0 done, 1 refused or failed (the server's reasons printed), 2 usage
`;

const COMMON = {
  admin: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsOptionsConfig;

const ADD = {
  ...COMMON,
  keep: { type: 'boolean' },
  drop: { type: 'boolean' },
  ttl: { type: 'string' },
  priority: { type: 'string' },
  reason: { type: 'string' },
  disabled: { type: 'boolean' },
  'trace-id': { type: 'string' },
  resource: { type: 'string', multiple: true },
  span: { type: 'string', multiple: true },
  'match-json': { type: 'string' },
  body: { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

const EXTEND = { ...COMMON, ttl: { type: 'string' } } as const satisfies ParseArgsOptionsConfig;

export type RulesSubcommand = 'add' | 'list' | 'get' | 'delete' | 'extend' | 'enable' | 'disable';

/** What a `rules` command line asks for: one admin API call, and how to print its answer. */
export interface RulesCall {
  sub: RulesSubcommand;
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  body?: unknown;
  json: boolean;
  client: AdminClientOptions;
}

function parse<O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function jsonArg(what: string, text: string): unknown {
  const source = text.startsWith('@') ? readFileSync(text.slice(1), 'utf8') : text;
  try {
    return JSON.parse(source) as unknown;
  } catch (err) {
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}`);
  }
}

function onlyId(sub: string, positionals: string[]): string {
  if (positionals.length !== 1 || positionals[0] === '') throw new UsageError(`rules ${sub} needs exactly one rule ID`);
  return positionals[0]!;
}

const ruleUrl = (id: string): string => `/v1/rules/${encodeURIComponent(id)}`;

/** The request body of `rules add` from its flags. */
function addBody(v: ReturnType<typeof parse<typeof ADD>>['values']): unknown {
  const ruleFlags = ['keep', 'drop', 'ttl', 'priority', 'reason', 'disabled', 'trace-id', 'resource', 'span', 'match-json'] as const;
  if (v.body !== undefined) {
    const mixed = ruleFlags.filter((f) => v[f] !== undefined);
    if (mixed.length > 0) throw new UsageError(`--body holds the whole rule; drop --${mixed.join(', --')}`);
    return jsonArg('--body', v.body);
  }
  if (v.keep === v.drop) throw new UsageError('rules add needs exactly one of --keep or --drop');
  if (v.ttl === undefined) throw new UsageError('rules add needs --ttl (e.g. 1h)');
  const base = v['match-json'] === undefined ? {} : jsonArg('--match-json', v['match-json']);
  if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new UsageError('--match-json must be a JSON object');
  const match = { ...(base as Record<string, unknown>) };
  if (v['trace-id'] !== undefined) match.trace_id = v['trace-id'];
  const extend = (key: 'resource' | 'span', conds: string[] | undefined): void => {
    if (conds === undefined) return;
    const prior = Array.isArray(match[key]) ? (match[key] as unknown[]) : [];
    match[key] = [...prior, ...conds.map(parseCondition)];
  };
  extend('resource', v.resource);
  extend('span', v.span);
  const body: Record<string, unknown> = { action: v.keep === true ? 'keep' : 'drop', ttl_secs: parseDuration(v.ttl), match };
  if (v.priority !== undefined) {
    const p = Number(v.priority);
    if (!/^-?\d+$/.test(v.priority.trim()) || !Number.isSafeInteger(p)) throw new UsageError(`--priority must be a whole number (got ${v.priority})`);
    body.priority = p;
  }
  if (v.reason !== undefined) body.reason = v.reason;
  if (v.disabled === true) body.enabled = false;
  return body;
}

/** Turns a `rules` command line into the admin API call it stands for (pure but for reading files). */
export function parseRulesCommand(args: string[], env: NodeJS.ProcessEnv = process.env): RulesCall {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': {
      const { values, positionals } = parse(rest, ADD);
      if (positionals.length > 0) throw new UsageError(`rules add takes no positional arguments (got ${positionals.join(' ')})`);
      return { sub, method: 'POST', path: '/v1/rules', body: addBody(values), json: values.json === true, client: adminOptionsFrom(values, env) };
    }
    case 'list': {
      const { values, positionals } = parse(rest, COMMON);
      if (positionals.length > 0) throw new UsageError('rules list takes no arguments');
      return { sub, method: 'GET', path: '/v1/rules', json: values.json === true, client: adminOptionsFrom(values, env) };
    }
    case 'get':
    case 'delete':
    case 'enable':
    case 'disable': {
      const { values, positionals } = parse(rest, COMMON);
      const id = onlyId(sub, positionals);
      const [method, path] = sub === 'get' ? ['GET', ruleUrl(id)] as const : sub === 'delete' ? ['DELETE', ruleUrl(id)] as const : ['POST', `${ruleUrl(id)}/${sub}`] as const;
      return { sub, method, path, json: values.json === true, client: adminOptionsFrom(values, env) };
    }
    case 'extend': {
      const { values, positionals } = parse(rest, EXTEND);
      const id = onlyId(sub, positionals);
      if (values.ttl === undefined) throw new UsageError('rules extend needs --ttl (e.g. 1h)');
      return { sub, method: 'POST', path: `${ruleUrl(id)}/extend`, body: { ttl_secs: parseDuration(values.ttl) }, json: values.json === true, client: adminOptionsFrom(values, env) };
    }
    default:
      throw new UsageError(sub === undefined ? 'rules needs a command' : `unknown rules command "${sub}"`);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function expiresIn(rule: ForceRule, nowMs: number): string {
  return formatDuration((Date.parse(rule.expires_at) - nowMs) / 1000);
}

/** Rules as a table, one line each. */
export function formatRules(rules: readonly ForceRule[], nowMs = Date.now()): string {
  if (rules.length === 0) return 'no rules\n';
  const header = ['ID', 'ACTION', 'PRIORITY', 'ENABLED', 'EXPIRES IN', 'MATCH', 'REASON'];
  return table([header, ...rules.map((r) => [r.id, r.action, String(r.priority), r.enabled ? 'yes' : 'no', expiresIn(r, nowMs), formatMatch(r.match), r.reason])]);
}

/** One rule, a field a line. */
export function formatRule(r: ForceRule, nowMs = Date.now()): string {
  return table([
    ['id', r.id],
    ['action', r.action],
    ['match', formatMatch(r.match)],
    ['priority', String(r.priority)],
    ['enabled', r.enabled ? 'yes' : 'no'],
    ['reason', r.reason],
    ['created', `${r.created_at} by ${r.created_by}`],
    ['expires', `${r.expires_at} (in ${expiresIn(r, nowMs)})`],
  ]);
}

export interface RulesIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env?: NodeJS.ProcessEnv;
}

const processIo: RulesIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

/** `tailsampler rules …`: 0 done, 1 refused or failed, 2 usage. */
export async function runRules(args: string[], io: RulesIo = processIo): Promise<number> {
  if (args[0] === undefined || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    (args[0] === undefined ? io.stderr : io.stdout)(RULES_USAGE);
    return args[0] === undefined ? 2 : 0;
  }
  let call: RulesCall;
  try {
    call = parseRulesCommand(args, io.env ?? process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`${err.message}\n${RULES_USAGE}`);
    return 2;
  }
  let answer: unknown;
  try {
    answer = await adminRequest(call.client, call.method, call.path, call.body);
  } catch (err) {
    if (!(err instanceof AdminRequestError)) throw err;
    if (call.json) {
      io.stderr(`${JSON.stringify({ error: { code: err.serverCode ?? err.code, status: err.status, message: err.message, issues: err.issues } })}\n`);
    } else {
      const lines = [`error${err.status === null ? '' : ` (HTTP ${err.status})`}: ${err.serverCode ?? err.code}: ${err.message}`];
      for (const i of err.issues) lines.push(`  ${i.path}: ${i.message}`);
      io.stderr(`${lines.join('\n')}\n`);
    }
    return 1;
  }
  if (call.sub === 'delete') {
    const id = decodeURIComponent(call.path.slice('/v1/rules/'.length));
    io.stdout(call.json ? `${JSON.stringify({ deleted: id })}\n` : `deleted ${id}\n`);
  } else if (call.json) {
    io.stdout(`${JSON.stringify(answer)}\n`);
  } else if (call.sub === 'list') {
    io.stdout(formatRules((answer as { rules: ForceRule[] }).rules));
  } else {
    io.stdout(formatRule(answer as ForceRule));
  }
  return 0;
}

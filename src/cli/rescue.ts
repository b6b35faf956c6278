import { parseArgs } from 'node:util';
import { AdminRequestError, adminOptionsFrom, adminRequest, type AdminClientOptions } from './admin-client.ts';

export const RESCUE_USAGE = `usage: tailsampler rescue TRACE_ID… [options]
       tailsampler rescue --service S --from T --to T --errors --attr k=v … [--limit N] [options]
  Exports traces from the lake to the exporters whatever their decision, marked tailsampler.rescued.
  --service S       spans of service S (resource service.name)
  --from T, --to T  span start range: RFC 3339 (2026-12-01T10:00:00Z) or an age (90s, 30m, 2h, 1d);
                    default: the hour before --to, --to defaults to now
  --errors          only spans with status ERROR
  --attr COND       k=v (equals), k!=v, k~=REGEX, or k (present); repeatable, all must hold on one span
  --limit N         most traces a query rescues (server default 100)
  --reason TEXT     why (kept with the job and logged)
  --wait            follow the job until every exporter is done with every trace
  --admin URL       admin API (env TAILSAMPLER_ADMIN_URL, default http://127.0.0.1:8889);
  --token-file FILE bearer token from a file (default env TAILSAMPLER_ADMIN_TOKEN)
`;

const OPTIONS: {
  service: { type: 'string' };
  from: { type: 'string' };
  to: { type: 'string' };
  errors: { type: 'boolean'; default: false };
  attr: { type: 'string'; multiple: true; default: string[] };
  limit: { type: 'string' };
  reason: { type: 'string' };
  wait: { type: 'boolean'; default: false };
  admin: { type: 'string' };
  'token-file': { type: 'string' };
  help: { type: 'boolean'; short: 'h'; default: false };
} = {
  service: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  errors: { type: 'boolean', default: false },
  attr: { type: 'string', multiple: true, default: [] },
  limit: { type: 'string' },
  reason: { type: 'string' },
  wait: { type: 'boolean', default: false },
  admin: { type: 'string' },
  'token-file': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
};

const POLL_MS = 1_000;
const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

class UsageError extends Error {}

/** An RFC 3339 time as given, or an age (`30m`) as the time that long before `nowMs`. */
export function timeArg(value: string, nowMs: number): string {
  const age = /^(\d+(?:\.\d+)?)([smhd])$/.exec(value);
  if (age !== null) return new Date(nowMs - Number(age[1]) * UNITS[age[2]!]!).toISOString();
  return value;
}

/** `k=v`, `k!=v`, `k~=re` or `k` as a query attribute condition. */
export function attrArg(value: string): { key: string; op: string; value?: string } {
  const m = /^([^=!~]+?)(!=|~=|=)(.*)$/s.exec(value);
  if (m === null) return { key: value, op: 'exists' };
  const op = m[2] === '=' ? 'eq' : m[2] === '!=' ? 'neq' : 'regex';
  return { key: m[1]!, op, value: m[3]! };
}

/** The request body the arguments ask for. */
export function rescueBody(args: string[], nowMs: number): Record<string, unknown> {
  const { values: v, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  const queried = v.service !== undefined || v.from !== undefined || v.to !== undefined || v.errors || v.attr.length > 0;
  if (positionals.length > 0 && queried) throw new UsageError('give trace ids or query options (--service, --from, --to, --errors, --attr), not both');
  if (positionals.length === 0 && !queried) throw new UsageError('give trace ids or query options');
  const body: Record<string, unknown> = {};
  if (v.reason !== undefined) body.reason = v.reason;
  if (positionals.length > 0) {
    if (v.limit !== undefined) throw new UsageError('--limit goes with a query');
    body.trace_ids = positionals;
    return body;
  }
  const query: Record<string, unknown> = { error_only: v.errors };
  if (v.service !== undefined) query.service = v.service;
  if (v.from !== undefined) query.from = timeArg(v.from, nowMs);
  if (v.to !== undefined) query.to = timeArg(v.to, nowMs);
  if (v.attr.length > 0) query.attributes = v.attr.map(attrArg);
  body.query = query;
  if (v.limit !== undefined) {
    const limit = Number(v.limit);
    if (!Number.isInteger(limit) || limit <= 0) throw new UsageError(`--limit must be a positive whole number (got ${v.limit})`);
    body.limit = limit;
  }
  return body;
}

interface JobView {
  id: string;
  state: string;
  complete: boolean;
  progress: Record<string, number>;
  deliveries: Record<string, number>;
}

function refusal(err: AdminRequestError): string {
  const issues = err.issues.map((i) => `\n  ${i.path === '' ? '(body)' : i.path}: ${i.message}`).join('');
  return `${err.serverCode ?? err.code}${err.status === null ? '' : ` (HTTP ${err.status})`}: ${err.message}${issues}`;
}

/** `tailsampler rescue`: prints the job as JSON (after following it with --wait); 0 when its search is done. */
export async function runRescue(args: string[]): Promise<number> {
  let body: Record<string, unknown>;
  let v;
  try {
    v = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true }).values;
    if (v.help) {
      process.stdout.write(RESCUE_USAGE);
      return 0;
    }
    body = rescueBody(args, Date.now());
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${RESCUE_USAGE}`);
    return 2;
  }
  const admin = adminOptionsFrom({ admin: v.admin, 'token-file': v['token-file'] });
  try {
    return await follow(admin, body, v.wait);
  } catch (err) {
    if (!(err instanceof AdminRequestError)) throw err;
    process.stderr.write(`${refusal(err)}\n`);
    return 1;
  }
}

async function follow(admin: AdminClientOptions, body: Record<string, unknown>, wait: boolean): Promise<number> {
  let job = (await adminRequest(admin, 'POST', '/v1/rescue', body)) as JobView;
  while (wait && job.state !== 'failed' && !job.complete) {
    const p = job.progress;
    const d = job.deliveries;
    process.stderr.write(
      `${job.id} ${job.state}: files ${p.files_scanned}/${p.files_total}, found ${p.traces_found}, queued ${p.traces_queued}, ` +
        `delivered ${d.delivered}/${d.total}, dead-lettered ${d.dead_lettered}\n`,
    );
    await new Promise((r) => setTimeout(r, POLL_MS));
    job = (await adminRequest(admin, 'GET', `/v1/rescue/${encodeURIComponent(job.id)}`)) as JobView;
  }
  process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
  return job.state === 'failed' ? 1 : 0;
}

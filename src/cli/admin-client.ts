import { readFileSync } from 'node:fs';
import { TailsamplerError } from '../errors.ts';
import type { RuleIssue } from '../sample/rules/rule-store.ts';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8889';

export interface AdminClientOptions {
  /** Base URL of the admin API, e.g. http://127.0.0.1:8889. */
  url: string;
  /** Bearer token; null sends none (the server answers 401 on everything but health). */
  token: string | null;
  timeoutMs?: number;
}

/**
 * A call to the admin API that failed: refused with a status (the server's error code, message and
 * issues kept), or no answer at all (status null). Retryable when unreachable or 503.
 */
export class AdminRequestError extends TailsamplerError {
  readonly status: number | null;
  readonly serverCode: string | null;
  readonly issues: readonly RuleIssue[];
  constructor(message: string, o: { status: number | null; serverCode?: string | null; issues?: readonly RuleIssue[]; cause?: unknown }) {
    super('TS_ADMIN_REQUEST_FAILED', message, { retryable: o.status === null || o.status === 503, cause: o.cause });
    this.name = 'AdminRequestError';
    this.status = o.status;
    this.serverCode = o.serverCode ?? null;
    this.issues = o.issues ?? [];
  }
}

/**
 * Where the admin API is and how to authenticate: `--admin` else TAILSAMPLER_ADMIN_URL else the
 * default loopback address; the token from `--token-file` (trimmed) else TAILSAMPLER_ADMIN_TOKEN.
 * There is no flag taking the token itself: it would sit in shell history and `ps`.
 */
export function adminOptionsFrom(flags: { admin?: string | undefined; 'token-file'?: string | undefined }, env: NodeJS.ProcessEnv = process.env): AdminClientOptions {
  const url = flags.admin ?? (env.TAILSAMPLER_ADMIN_URL || DEFAULT_ADMIN_URL);
  let token: string | null = env.TAILSAMPLER_ADMIN_TOKEN || null;
  if (flags['token-file'] !== undefined) token = readFileSync(flags['token-file'], 'utf8').trim() || null;
  return { url, token };
}

function issuesOf(v: unknown): RuleIssue[] {
  return Array.isArray(v) ? v.filter((i): i is RuleIssue => typeof i === 'object' && i !== null && typeof (i as RuleIssue).path === 'string') : [];
}

/**
 * One admin API call: JSON in and out. Resolves to the parsed body (undefined for none, e.g. 204);
 * throws AdminRequestError with the server's code, message and issues when it answers an error.
 */
export async function adminRequest(opts: AdminClientOptions, method: string, path: string, body?: unknown): Promise<unknown> {
  // Relative to the base, so a base behind a proxy prefix (http://host/admin/) keeps its prefix.
  const url = new URL(path.replace(/^\/+/, ''), opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
  } catch (cause) {
    const inner = (cause as { cause?: { code?: string; message?: string } }).cause;
    const why = inner?.code ?? inner?.message ?? (cause as Error).message;
    throw new AdminRequestError(`cannot reach the admin API at ${url.origin} (${why})`, { status: null, cause });
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.ok) return parsed;
  const err = (parsed as { error?: { code?: unknown; message?: unknown; issues?: unknown } } | undefined)?.error;
  const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status}${text === '' ? '' : `: ${text.slice(0, 200)}`}`;
  throw new AdminRequestError(message, {
    status: res.status,
    serverCode: typeof err?.code === 'string' ? err.code : null,
    issues: issuesOf(err?.issues),
  });
}

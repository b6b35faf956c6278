import { TailsamplerError } from '../errors.ts';
import type { RuleIssue } from '../sample/rules/rule-store.ts';

export type AdminErrorCode =
  | 'TS_ADMIN_BAD_REQUEST'
  | 'TS_ADMIN_UNAUTHORIZED'
  | 'TS_ADMIN_NOT_FOUND'
  | 'TS_ADMIN_METHOD_NOT_ALLOWED'
  | 'TS_ADMIN_BODY_TOO_LARGE'
  | 'TS_ADMIN_INTERNAL';

/** The JSON body of every admin API error: `{"error": {code, message, issues?}}`. */
export interface AdminErrorBody {
  error: { code: string; message: string; issues?: readonly RuleIssue[] };
}

/** An admin API answer other than success, thrown by a route or the server and sent as its status. */
export class AdminHttpError extends TailsamplerError {
  readonly status: number;
  readonly issues: RuleIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, code: AdminErrorCode, message: string, options: { issues?: RuleIssue[]; headers?: Record<string, string> } = {}) {
    super(code, message);
    this.name = 'AdminHttpError';
    this.status = status;
    this.issues = options.issues;
    this.headers = options.headers ?? {};
  }
}

export function errorBody(code: string, message: string, issues?: readonly RuleIssue[]): AdminErrorBody {
  return { error: issues === undefined ? { code, message } : { code, message, issues } };
}

export function notFound(message: string): AdminHttpError {
  return new AdminHttpError(404, 'TS_ADMIN_NOT_FOUND', message);
}

export function badRequest(message: string, issues?: RuleIssue[]): AdminHttpError {
  return new AdminHttpError(400, 'TS_ADMIN_BAD_REQUEST', message, issues === undefined ? {} : { issues });
}

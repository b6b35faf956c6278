import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { ExportSendError, ExporterConfigError, messageOf } from './errors.ts';
import { decodeExportResponse, decodeStatus, parseRetryAfter } from './otlp-response.ts';
import type { Sender, SendResult } from './sender.ts';

const gzipAsync = promisify(gzip);

/** Statuses the OTLP/HTTP spec calls transient; every other failure is permanent. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const MAX_ERROR_BODY_CHARS = 512;

export interface OtlpHttpSenderOptions {
  endpoint: string;
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
}

/**
 * The collector convention: a bare endpoint gets `/v1/traces` appended; an endpoint that already
 * names a path is taken as the full traces URL.
 */
export function tracesUrl(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (e) {
    throw new ExporterConfigError(`otlp exporter endpoint ${JSON.stringify(endpoint)} is not a URL: ${messageOf(e)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ExporterConfigError(`otlp http/protobuf endpoint must be http:// or https://, got ${url.protocol}`);
  }
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1/traces';
  return url;
}

/** OTLP/HTTP with binary protobuf bodies, POSTed with Node's fetch (keep-alive connection pool). */
export class OtlpHttpSender implements Sender {
  readonly description: string;
  readonly #url: URL;
  readonly #headers: Record<string, string>;
  readonly #gzip: boolean;

  constructor(options: OtlpHttpSenderOptions) {
    this.#url = tracesUrl(options.endpoint);
    this.description = `http/protobuf ${this.#url.origin}${this.#url.pathname}`;
    this.#gzip = options.compression === 'gzip';
    this.#headers = { ...options.headers, 'content-type': 'application/x-protobuf' };
    if (this.#gzip) this.#headers['content-encoding'] = 'gzip';
  }

  async send(body: Uint8Array, signal: AbortSignal): Promise<SendResult> {
    const payload = this.#gzip ? await gzipAsync(body) : body;
    let response: Response;
    let bytes: Uint8Array;
    try {
      response = await fetch(this.#url, { method: 'POST', headers: this.#headers, body: payload, signal });
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (e) {
      if (signal.aborted) throw e;
      // Refused, reset, DNS...: the destination may well be back shortly.
      throw new ExportSendError(`POST ${this.#url.href} failed: ${networkMessage(e)}`, { retryable: true, cause: e });
    }
    if (response.status >= 200 && response.status < 300) return decodeExportResponse(bytes);

    const retryable = RETRYABLE_STATUS.has(response.status);
    const detail = errorDetail(response.headers.get('content-type'), bytes);
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after')) ?? detail.retryDelayMs;
    throw new ExportSendError(`POST ${this.#url.href} answered ${response.status}${detail.message ? `: ${detail.message}` : ''}`, {
      retryable,
      status: response.status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  async close(): Promise<void> {}
}

function errorDetail(contentType: string | null, body: Uint8Array): { message: string; retryDelayMs?: number } {
  if (contentType?.includes('protobuf')) {
    const status = decodeStatus(body);
    if (status) return { message: status.message, ...(status.retryDelayMs === undefined ? {} : { retryDelayMs: status.retryDelayMs }) };
  }
  return { message: Buffer.from(body).toString('utf8', 0, Math.min(body.length, MAX_ERROR_BODY_CHARS)).trim() };
}

/** fetch hides the socket error (ECONNREFUSED...) in `cause`. */
function networkMessage(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  return cause instanceof Error ? `${messageOf(e)} (${cause.message})` : messageOf(e);
}

import { ExportSendError, ExporterConfigError, messageOf } from '../errors.ts';
import { parseRetryAfter } from '../otlp-response.ts';
import type { Sender, SendResult } from '../sender.ts';
import { msgpackArrayLength } from './msgpack.ts';

const MAX_ERROR_BODY_CHARS = 512;

export interface DatadogSenderOptions {
  /**
   * `agent`: PUT msgpack v0.4 to a Datadog Agent; `agentless`: POST a gzipped AgentPayload to the
   * intake; `stats`: PUT a msgpack ClientStatsPayload to the Agent's `/v0.6/stats`.
   */
  mode: 'agent' | 'agentless' | 'stats';
  /** The Agent's base URL, or the intake's (`https://trace.agent.<site>`). */
  endpoint: string;
  /** Agentless: the API key (`DD-API-KEY`). */
  apiKey?: string;
  /** Agent: stats are computed by the client, not by the Agent (`Datadog-Client-Computed-Stats: yes`). */
  clientComputedStats?: boolean;
  /** For `Datadog-Meta-Tracer-Version` and User-Agent. */
  version: string;
}

/**
 * One attempt to hand a payload to Datadog. Statuses as the Agent's own trace writer treats them:
 * 2xx accepted; 408, 429 and 5xx retryable (Retry-After honoured); every other answer permanent
 * (400 malformed, 403 bad API key, 413 too large). The API key is never part of a message or log.
 */
export class DatadogSender implements Sender {
  readonly description: string;
  readonly #url: URL;
  readonly #method: 'PUT' | 'POST';
  readonly #headers: Record<string, string>;
  readonly #countTraces: boolean;

  constructor(options: DatadogSenderOptions) {
    let base: URL;
    try {
      base = new URL(options.endpoint);
    } catch (e) {
      throw new ExporterConfigError(`datadog exporter endpoint ${JSON.stringify(options.endpoint)} is not a URL: ${messageOf(e)}`);
    }
    const path = options.mode === 'agent' ? 'v0.4/traces' : options.mode === 'stats' ? 'v0.6/stats' : 'api/v0.2/traces';
    this.#url = new URL(path, base.href.endsWith('/') ? base.href : `${base.href}/`);
    this.description = `datadog ${options.mode} ${this.#url.origin}${this.#url.pathname}`;
    const userAgent = `tailsampler/${options.version}`;
    if (options.mode === 'agent' || options.mode === 'stats') {
      this.#method = 'PUT';
      this.#countTraces = options.mode === 'agent';
      this.#headers = {
        'content-type': 'application/msgpack',
        'datadog-meta-lang': 'otlp',
        'datadog-meta-tracer-version': `tailsampler-${options.version}`,
        'user-agent': userAgent,
      };
      if (options.clientComputedStats && options.mode === 'agent') this.#headers['datadog-client-computed-stats'] = 'yes';
    } else {
      if (options.apiKey === undefined || options.apiKey === '') throw new ExporterConfigError('datadog agentless needs api.key');
      this.#method = 'POST';
      this.#countTraces = false;
      this.#headers = {
        'content-type': 'application/x-protobuf',
        'content-encoding': 'gzip',
        'dd-api-key': options.apiKey,
        'user-agent': userAgent,
      };
    }
  }

  async send(body: Uint8Array, signal: AbortSignal): Promise<SendResult> {
    let headers = this.#headers;
    if (this.#countTraces) {
      const traces = msgpackArrayLength(body);
      if (traces === null) throw new ExportSendError('datadog payload is not a msgpack array of traces', { retryable: false });
      headers = { ...headers, 'x-datadog-trace-count': String(traces) };
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.#url, { method: this.#method, headers, body, signal });
      text = await response.text();
    } catch (e) {
      if (signal.aborted) throw e;
      // Refused, reset, DNS...: an Agent restarting is back shortly.
      throw new ExportSendError(`${this.#method} ${this.#url.href} failed: ${networkMessage(e)}`, { retryable: true, cause: e });
    }
    if (response.status >= 200 && response.status < 300) return { rejectedSpans: 0, errorMessage: '' };
    const status = response.status;
    const retryable = status === 408 || status === 429 || status >= 500;
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    const detail = text.slice(0, MAX_ERROR_BODY_CHARS).trim();
    throw new ExportSendError(`${this.#method} ${this.#url.href} answered ${status}${detail ? `: ${detail}` : ''}`, {
      retryable,
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }

  async close(): Promise<void> {}
}

/** fetch hides the socket error (ECONNREFUSED...) in `cause`. */
function networkMessage(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  return cause instanceof Error ? `${messageOf(e)} (${cause.message})` : messageOf(e);
}

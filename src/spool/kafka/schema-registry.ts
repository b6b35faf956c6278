/**
 * A small client of the Confluent Schema Registry REST API (also served by AutoMQ, Redpanda, Karapace
 * and Apicurio's compatibility API): registers a protobuf schema under a subject and returns its id,
 * the id the Confluent wire format puts in front of every record.
 */
import { SchemaRegistryError } from './errors.ts';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

export interface SchemaRegistryOptions {
  /** Base URL (http or https, no credentials in it); requests go to `<url>/subjects/…`. */
  url: string;
  /** HTTP basic auth; both or neither. Never logged nor put in error messages. */
  username: string | null;
  password: string | null;
  /** Deadline of each request. */
  timeoutMs: number;
}

export class SchemaRegistryClient {
  readonly #base: string;
  readonly #authorization: string | null;
  readonly #timeoutMs: number;

  constructor(options: SchemaRegistryOptions) {
    this.#base = options.url.replace(/\/+$/, '');
    this.#authorization =
      options.username === null ? null : `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
    this.#timeoutMs = options.timeoutMs;
  }

  /**
   * Registers `schema` (`.proto` text) under `subject` (`POST /subjects/{subject}/versions`) and
   * returns its id. Registering a schema the subject already has returns the existing id. Failures
   * are SchemaRegistryError: the URL, the HTTP status and the registry's own `message`.
   */
  async register(subject: string, schema: string): Promise<number> {
    const url = `${this.#base}/subjects/${encodeURIComponent(subject)}/versions`;
    const headers: Record<string, string> = { 'content-type': CONTENT_TYPE, accept: `${CONTENT_TYPE}, application/json` };
    if (this.#authorization !== null) headers.authorization = this.#authorization;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ schemaType: 'PROTOBUF', schema }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await response.text();
    } catch (e) {
      const why = e instanceof Error && e.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : `cannot reach it: ${causeOf(e)}`;
      throw new SchemaRegistryError(`schema registry POST ${url}: ${why}`, null, e);
    }
    const body = parseJson(text);
    if (!response.ok) {
      const message = typeof body?.message === 'string' ? body.message : text.slice(0, 200) || response.statusText;
      throw new SchemaRegistryError(`schema registry POST ${url} answered ${response.status}: ${message}`, response.status);
    }
    const id = body?.id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 0x7fffffff) {
      throw new SchemaRegistryError(`schema registry POST ${url} answered ${response.status} without a schema id: ${text.slice(0, 200)}`, response.status);
    }
    return id;
  }
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** fetch's "fetch failed" says nothing: the reason (ECONNREFUSED…) is in its cause. */
function causeOf(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  return e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message;
}

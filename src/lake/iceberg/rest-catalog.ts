import type { Logger } from '../../telemetry/logger.ts';
import type {
  Catalog,
  CreateTableRequest,
  LoadedTable,
  StorageCredential,
  TableIdentifier,
  TableRequirement,
  TableUpdate,
} from './catalog.ts';
import {
  CatalogAuthError,
  CatalogRequestError,
  CatalogUnavailableError,
  CommitConflictError,
  CommitStateUnknownError,
  InvalidMetadataError,
  NoSuchTableError,
  TableAlreadyExistsError,
} from './errors.ts';
import { typeKey, type TableMetadata } from './metadata.ts';
import { OAuth2ClientCredentials, parseCredential } from './rest-auth.ts';
import { parseJsonExact } from './rest-json.ts';

/**
 * Client of the Iceberg REST catalog (apache/iceberg open-api/rest-catalog-open-api.yaml): config
 * (`GET /v1/config`, defaults < client < overrides, `prefix`), loadTable, createTable (creating the
 * namespace when absent), commitTable (`POST …/tables/{table}` with identifier, requirements and
 * updates). Works with Apache Iceberg's REST server, Lakekeeper (`…/catalog`, a warehouse name),
 * Databricks Unity Catalog (`…/api/2.1/unity-catalog/iceberg-rest`, catalog name as warehouse) and
 * other implementations of the spec.
 *
 * Errors: 409 on commit → CommitConflictError (retryable: reload and commit again); 500/502/503/504,
 * a network failure or a timeout during a commit → CommitStateUnknownError (the caller reconciles by
 * reloading, never by re-sending); 401/403/419 → CatalogAuthError; other 5xx and network failures →
 * CatalogUnavailableError; other 4xx → CatalogRequestError carrying the server's `error.message`.
 */

export interface RestCatalogOptions {
  /** Base URI; paths are `<uri>/v1/…`. */
  uri: string;
  /** Sent to `GET /v1/config?warehouse=`: a location (Iceberg's server) or a name (Lakekeeper, Unity). */
  warehouse?: string | undefined;
  /** Client-side `prefix` (server defaults < this < server overrides). */
  prefix?: string | undefined;
  /** Static bearer token. */
  token?: string | undefined;
  /** OAuth2 client credentials, `client_id:client_secret`. */
  credential?: string | undefined;
  /** Token endpoint for `credential`; default `<uri>/v1/oauth/tokens`. */
  oauth2ServerUri?: string | undefined;
  /** OAuth2 scope; default `catalog`. */
  scope?: string | undefined;
  /** Extra headers on every catalog request (e.g. Lakekeeper's `x-project-id`). */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Ask for vended storage credentials (`X-Iceberg-Access-Delegation: vended-credentials`). */
  vendedCredentials?: boolean | undefined;
  /** Per-request timeout. */
  requestTimeoutMs: number;
  logger: Logger;
  /**
   * Tables are only read (external mode): ids beyond 2^53 that other engines draw (Java, pyiceberg,
   * AutoMQ) are kept as decimal strings instead of refused, since nothing is committed on top of them.
   */
  readOnly?: boolean | undefined;
}

interface Response {
  status: number;
  body: unknown;
}

interface RequestOptions {
  query?: Record<string, string> | undefined;
  body?: unknown;
  /** Adds the access-delegation header (loadTable, createTable). */
  delegation?: boolean;
  /** What the request is, for messages. */
  what: string;
}

/** Thrown by `send` when no response arrived (network failure, timeout). */
class TransportError extends Error {}

const DEFAULT_NAMESPACE_SEPARATOR = '%1F';
const UNKNOWN_COMMIT_STATUSES = new Set([500, 502, 503, 504]);

function errorOf(body: unknown): { message: string | null; type: string | null } {
  const e = (body as { error?: { message?: unknown; type?: unknown } } | null)?.error;
  return {
    message: typeof e?.message === 'string' ? e.message : null,
    type: typeof e?.type === 'string' ? e.type : null,
  };
}

function describe(status: number, body: unknown): string {
  const { message, type } = errorOf(body);
  if (message !== null) return `HTTP ${status}${type ? ` ${type}` : ''}: ${message}`;
  return `HTTP ${status}`;
}

function isLoadTableResult(body: unknown): body is { 'metadata-location'?: string; metadata: TableMetadata; config?: Record<string, string>; 'storage-credentials'?: StorageCredential[] } {
  return typeof body === 'object' && body !== null && typeof (body as { metadata?: unknown }).metadata === 'object';
}

/**
 * The table the server created must use our field ids, partition field ids and sort order: data
 * files are written with those ids, so a server that re-numbered them (REST createTable lets the
 * server assign ids) would make every reader mis-resolve columns.
 */
export function checkCreatedLayout(request: CreateTableRequest, metadata: TableMetadata, where: string): void {
  if (metadata['format-version'] !== 2) {
    throw new InvalidMetadataError(`${where}: the server created a format-version ${String(metadata['format-version'])} table (need 2)`);
  }
  const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id']);
  const problems: string[] = [];
  for (const want of request.schema.fields) {
    const got = schema?.fields.find((f) => f.name === want.name);
    if (got === undefined) problems.push(`column ${want.name} missing`);
    else if (got.id !== want.id || typeKey(got.type) !== typeKey(want.type) || got.required !== want.required) {
      problems.push(
        `column ${want.name}: id ${got.id} ${typeKey(got.type)}${got.required ? ' required' : ''} (sent id ${want.id} ${typeKey(want.type)}${want.required ? ' required' : ''})`,
      );
    }
  }
  const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id']);
  for (const want of request.partitionSpec.fields) {
    const got = spec?.fields.find((f) => f.name === want.name);
    if (got === undefined || got['field-id'] !== want['field-id'] || got['source-id'] !== want['source-id'] || got.transform !== want.transform) {
      problems.push(`partition field ${want.name} differs`);
    }
  }
  const order = metadata['sort-orders'].find((o) => o['order-id'] === metadata['default-sort-order-id']);
  const sameOrder =
    order !== undefined &&
    order.fields.length === request.sortOrder.fields.length &&
    request.sortOrder.fields.every((f, i) => order.fields[i]!['source-id'] === f['source-id'] && order.fields[i]!.direction === f.direction);
  if (!sameOrder) problems.push('sort order differs');
  if (problems.length > 0) {
    throw new InvalidMetadataError(
      `${where}: the catalog created the table with a layout other than the one requested (${problems.join('; ')}); ` +
        'drop it and create it with a catalog that keeps the requested field ids',
    );
  }
}

export class RestCatalog implements Catalog {
  private readonly options: RestCatalogOptions;
  private readonly base: string;
  private readonly logger: Logger;
  private readonly oauth: OAuth2ClientCredentials | null;
  /** Merged catalog properties: server defaults, then client settings, then server overrides. */
  private props: Record<string, string> = {};
  private prefixPath = '';
  private separator = DEFAULT_NAMESPACE_SEPARATOR;
  private closed = false;
  /** Last table-level config and storage credentials per table, for building its FileIO. */
  private readonly tableConfig = new Map<string, { location: string; config: Record<string, string>; credentials: StorageCredential[] }>();

  private constructor(options: RestCatalogOptions) {
    this.options = options;
    this.base = options.uri.replace(/\/+$/, '');
    this.logger = options.logger;
    if (options.credential !== undefined && options.credential !== '') {
      const { clientId, clientSecret } = parseCredential(options.credential);
      this.oauth = new OAuth2ClientCredentials({
        tokenUri: options.oauth2ServerUri ?? `${this.base}/v1/oauth/tokens`,
        clientId,
        clientSecret,
        scope: options.scope ?? 'catalog',
        timeoutMs: options.requestTimeoutMs,
      });
    } else {
      this.oauth = null;
    }
  }

  /** Connects: fetches `/v1/config` (authenticating first when configured) and applies it. */
  static async open(options: RestCatalogOptions): Promise<RestCatalog> {
    const catalog = new RestCatalog(options);
    await catalog.loadConfig();
    return catalog;
  }

  /** Catalog properties after merging the server's config with ours. */
  get properties(): Readonly<Record<string, string>> {
    return this.props;
  }

  private async loadConfig(): Promise<void> {
    const { warehouse, prefix } = this.options;
    const res = await this.call('GET', '/v1/config', {
      what: 'get catalog config',
      query: warehouse ? { warehouse } : undefined,
    });
    if (res.status !== 200) this.fail(res, 'get catalog config');
    const body = res.body as { defaults?: Record<string, string>; overrides?: Record<string, string> };
    const client: Record<string, string> = {};
    if (warehouse) client.warehouse = warehouse;
    if (prefix) client.prefix = prefix;
    this.props = { ...(body.defaults ?? {}), ...client, ...(body.overrides ?? {}) };
    const p = (this.props.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.prefixPath = p === '' ? '' : `/${p.split('/').map(encodeURIComponent).join('/')}`;
    this.separator = this.props['namespace-separator'] ?? DEFAULT_NAMESPACE_SEPARATOR;
    const shown = new URL(this.base);
    this.logger.info({ uri: `${shown.origin}${shown.pathname}`, warehouse: warehouse ?? null, prefix: p || null }, 'connected to iceberg REST catalog');
  }

  /** `/v1/{prefix}/namespaces/{namespace}` with a dotted namespace joined by the server's separator. */
  namespacePath(namespace: string): string {
    const ns = namespace.split('.').map(encodeURIComponent).join(this.separator);
    return `/v1${this.prefixPath}/namespaces/${ns}`;
  }

  tablePath(id: TableIdentifier): string {
    return `${this.namespacePath(id.namespace)}/tables/${encodeURIComponent(id.name)}`;
  }

  /**
   * Properties for the table's FileIO: catalog properties, the table's load `config`, then the most
   * specific `storage-credentials` entry whose prefix the table location starts with (the spec has
   * clients prefer storage credentials over config).
   */
  fileIOProperties(id: TableIdentifier): Record<string, string> {
    const t = this.tableConfig.get(`${id.namespace}\u0000${id.name}`);
    const props = { ...this.props, ...(t?.config ?? {}) };
    if (t) {
      const best = t.credentials
        .filter((c) => t.location.startsWith(c.prefix))
        .sort((a, b) => b.prefix.length - a.prefix.length)[0];
      if (best) Object.assign(props, best.config);
    }
    return props;
  }

  private async authHeader(): Promise<string | null> {
    if (this.oauth) return `Bearer ${await this.oauth.token()}`;
    if (this.options.token) return `Bearer ${this.options.token}`;
    return null;
  }

  private async send(method: string, path: string, options: RequestOptions, auth: string | null): Promise<Response> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { ...(this.options.headers ?? {}), accept: 'application/json' };
    if (auth !== null) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
      headers.authorization = auth;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.delegation && this.options.vendedCredentials) headers['x-iceberg-access-delegation'] = 'vended-credentials';
    let status: number;
    let text: string;
    try {
      const res = await fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (e) {
      const reason = (e as Error).name === 'TimeoutError' ? `no answer within ${this.options.requestTimeoutMs} ms` : (e as Error).message;
      throw new TransportError(`${options.what}: ${method} ${url.origin}${url.pathname} failed: ${reason}`, { cause: e });
    }
    let body: unknown = null;
    if (text !== '') {
      try {
        body = parseJsonExact(text, options.what, this.options.readOnly === true ? 'string' : 'refuse');
      } catch (e) {
        if (e instanceof InvalidMetadataError) throw e;
        body = { error: { message: text.slice(0, 500), type: null } };
      }
    }
    return { status, body };
  }

  /** One request; on 401 with OAuth2, fetches a new token and tries once more. */
  private async request(method: string, path: string, options: RequestOptions): Promise<Response> {
    if (this.closed) throw new CatalogUnavailableError('REST catalog is closed');
    const auth = await this.authHeader();
    let res = await this.send(method, path, options, auth);
    if (res.status === 401 && this.oauth && auth !== null) {
      // A 401 means the request was not processed: safe to send again with a fresh token.
      this.oauth.invalidate(auth.slice('Bearer '.length));
      res = await this.send(method, path, options, await this.authHeader());
    }
    return res;
  }

  /** Maps an unexpected status to the error class for it. */
  private fail(res: Response, what: string): never {
    const msg = `${what}: ${describe(res.status, res.body)}`;
    if (res.status === 401 || res.status === 403 || res.status === 419) throw new CatalogAuthError(msg, res.status);
    if (res.status >= 500) throw new CatalogUnavailableError(msg, { status: res.status });
    throw new CatalogRequestError(msg, res.status, errorOf(res.body).type);
  }

  /** A request whose failure to get any answer is "catalog unavailable". */
  private async call(method: string, path: string, options: RequestOptions): Promise<Response> {
    try {
      return await this.request(method, path, options);
    } catch (e) {
      if (e instanceof TransportError) throw new CatalogUnavailableError(e.message, { cause: e.cause });
      throw e;
    }
  }

  private loaded(id: TableIdentifier, body: unknown, what: string): LoadedTable {
    if (!isLoadTableResult(body)) throw new InvalidMetadataError(`${what}: the answer has no table metadata`);
    const metadataLocation = body['metadata-location'];
    if (typeof metadataLocation !== 'string') throw new InvalidMetadataError(`${what}: the answer has no metadata-location`);
    const config = { ...(body.config ?? {}) };
    const storageCredentials = [...(body['storage-credentials'] ?? [])];
    this.tableConfig.set(`${id.namespace}\u0000${id.name}`, { location: body.metadata.location, config, credentials: storageCredentials });
    const table: LoadedTable = { metadataLocation, metadata: body.metadata, config, storageCredentials };
    if (table.metadata['format-version'] !== 2) {
      throw new InvalidMetadataError(`${what}: format-version ${String(table.metadata['format-version'])} is not supported (need 2)`);
    }
    return table;
  }

  async loadTable(id: TableIdentifier): Promise<LoadedTable | null> {
    const what = `load table ${id.namespace}.${id.name}`;
    const res = await this.call('GET', this.tablePath(id), { what, delegation: true });
    if (res.status === 404) return null;
    if (res.status !== 200) this.fail(res, what);
    return this.loaded(id, res.body, what);
  }

  private async createNamespace(namespace: string): Promise<void> {
    const what = `create namespace ${namespace}`;
    const res = await this.call('POST', `/v1${this.prefixPath}/namespaces`, {
      what,
      body: { namespace: namespace.split('.'), properties: {} },
    });
    // 409: someone else created it meanwhile, which is what we wanted.
    if (res.status !== 200 && res.status !== 409) this.fail(res, what);
    if (res.status === 200) this.logger.info({ namespace }, 'created namespace in REST catalog');
  }

  async createTable(id: TableIdentifier, request: CreateTableRequest): Promise<LoadedTable> {
    const what = `create table ${id.namespace}.${id.name}`;
    const body: Record<string, unknown> = {
      name: id.name,
      schema: request.schema,
      'partition-spec': request.partitionSpec,
      'write-order': request.sortOrder,
      'stage-create': false,
      properties: { ...request.properties, 'format-version': '2' },
    };
    // An empty location lets the catalog place the table under its warehouse.
    if (request.location !== '') body.location = request.location;
    const path = `${this.namespacePath(id.namespace)}/tables`;
    let res = await this.call('POST', path, { what, body, delegation: true });
    if (res.status === 404) {
      await this.createNamespace(id.namespace);
      res = await this.call('POST', path, { what, body, delegation: true });
    }
    if (res.status === 409) throw new TableAlreadyExistsError(`${what}: ${describe(res.status, res.body)}`);
    if (res.status !== 200) this.fail(res, what);
    const table = this.loaded(id, res.body, what);
    checkCreatedLayout(request, table.metadata, what);
    this.logger.info({ table: `${id.namespace}.${id.name}`, metadataLocation: table.metadataLocation }, 'created iceberg table');
    return table;
  }

  async commitTable(
    id: TableIdentifier,
    requirements: readonly TableRequirement[],
    updates: readonly TableUpdate[],
  ): Promise<LoadedTable> {
    const what = `commit to ${id.namespace}.${id.name}`;
    let res: Response;
    try {
      res = await this.request('POST', this.tablePath(id), {
        what,
        body: { identifier: { namespace: id.namespace.split('.'), name: id.name }, requirements, updates },
      });
    } catch (e) {
      if (e instanceof TransportError) throw new CommitStateUnknownError(e.message, { cause: e.cause });
      throw e;
    }
    if (res.status === 200) {
      const body = res.body as { 'metadata-location'?: unknown; metadata?: unknown };
      if (typeof body?.['metadata-location'] !== 'string' || typeof body.metadata !== 'object' || body.metadata === null) {
        // The server says it committed; what it committed we learn by reloading.
        throw new CommitStateUnknownError(`${what}: HTTP 200 without metadata-location and metadata`);
      }
      const prior = this.tableConfig.get(`${id.namespace}\u0000${id.name}`);
      return {
        metadataLocation: body['metadata-location'],
        metadata: body.metadata as TableMetadata,
        ...(prior ? { config: prior.config, storageCredentials: prior.credentials } : {}),
      };
    }
    if (res.status === 409) throw new CommitConflictError(`${what}: ${describe(res.status, res.body)}`);
    if (res.status === 404) throw new NoSuchTableError(`${what}: ${describe(res.status, res.body)}`);
    if (UNKNOWN_COMMIT_STATUSES.has(res.status)) throw new CommitStateUnknownError(`${what}: ${describe(res.status, res.body)}`);
    this.fail(res, what);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

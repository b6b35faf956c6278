import type * as S3SdkModule from '@aws-sdk/client-s3';
import type { CompletedPart, S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type * as EndpointsModule from '@smithy/core/endpoints';
import type { StorageConfig } from '../config/schema.ts';
import { TailsamplerError } from '../errors.ts';
import { retryWithBackoff, type BackoffPolicy } from '../retry.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { FileIO } from './file-io.ts';
import { FileNotFoundError, InvalidFileUriError, ObjectStoreRequestError } from './file-io-errors.ts';
import type * as S3HttpModule from './s3-http.ts';
import type { BucketEndpoint, S3Answer, S3Request, SignedS3Http } from './s3-http.ts';

const MIB = 1024 * 1024;

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What an S3FileIO needs to reach its store. Sizes in bytes. */
export interface S3FileIOOptions {
  /** `http(s)://host:port` of an S3-compatible store; undefined → AWS's endpoint for the region. */
  endpoint?: string;
  region: string;
  /** Path-style addressing (`endpoint/bucket/key`), what Garage, MinIO and most S3-compatible stores need. */
  pathStyle: boolean;
  /** Static credentials; undefined → the SDK's default chain (env, profile, web identity, IMDS…). */
  credentials?: S3Credentials;
  /** Objects at least this big are written with a multipart upload. */
  multipartThresholdBytes: number;
  /** Part size of multipart uploads (AWS S3 wants ≥ 5 MiB for every part but the last). */
  partSizeBytes: number;
  /** Parts uploaded at once. */
  multipartConcurrency: number;
  /** Attempts per request, retries included (with backoff as the SDK's standard retry strategy). */
  maxAttempts: number;
}

export const DEFAULT_S3_OPTIONS: S3FileIOOptions = {
  region: 'us-east-1',
  pathStyle: true,
  multipartThresholdBytes: 16 * MIB,
  partSizeBytes: 8 * MIB,
  multipartConcurrency: 4,
  maxAttempts: 3,
};

export interface S3Location {
  bucket: string;
  key: string;
}

// Bucket names as S3 allows them (3–63 of lowercase letters, digits, dots, hyphens; Garage also
// accepts these). The key is everything after the first slash and must not be empty.
const S3_URI = /^(s3a?):\/\/([^/?#]*)\/(.*)$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/key` (or `s3a://`, as Hadoop-era tables write) → bucket and key, taken literally. */
export function parseS3Uri(uri: string): S3Location {
  const m = S3_URI.exec(uri);
  if (!m) throw new InvalidFileUriError(uri, 'not an s3:// or s3a:// URI of the form s3://bucket/key');
  const bucket = m[2]!;
  const key = m[3]!;
  if (!BUCKET.test(bucket)) throw new InvalidFileUriError(uri, `invalid bucket name ${JSON.stringify(bucket)}`);
  if (key === '' || key.endsWith('/')) throw new InvalidFileUriError(uri, 'no object key (a FileIO addresses objects, not prefixes)');
  return { bucket, key };
}

export function isS3Uri(uri: string): boolean {
  return uri.startsWith('s3://') || uri.startsWith('s3a://');
}

/** The `storage.s3` config section as FileIO options. Empty credentials mean "use the default chain". */
export function s3OptionsFromConfig(config: StorageConfig['s3']): S3FileIOOptions {
  const options: S3FileIOOptions = {
    region: config.region,
    pathStyle: config.path_style,
    multipartThresholdBytes: Math.round(config.multipart_threshold_mib * MIB),
    partSizeBytes: Math.round(config.part_size_mib * MIB),
    multipartConcurrency: DEFAULT_S3_OPTIONS.multipartConcurrency,
    maxAttempts: config.max_attempts,
  };
  if (config.endpoint) options.endpoint = config.endpoint;
  if (config.access_key_id && config.secret_access_key) {
    options.credentials = { accessKeyId: config.access_key_id, secretAccessKey: config.secret_access_key };
    if (config.session_token) options.credentials.sessionToken = config.session_token;
  }
  return options;
}

function boolProperty(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

/**
 * FileIO options from Iceberg table/catalog properties (a REST catalog's load-table `config`, which
 * may vend short-lived credentials): `s3.endpoint`, `s3.region` (or `client.region`),
 * `s3.path-style-access`, `s3.access-key-id`, `s3.secret-access-key`, `s3.session-token`. What the
 * properties leave out comes from `defaults`; vended credentials replace the default ones whole
 * (a default session token never pairs with a vended key).
 */
export function s3OptionsFromProperties(props: Readonly<Record<string, string>>, defaults: S3FileIOOptions): S3FileIOOptions {
  const options: S3FileIOOptions = { ...defaults };
  const endpoint = props['s3.endpoint'];
  if (endpoint) options.endpoint = endpoint;
  const region = props['s3.region'] ?? props['client.region'];
  if (region) options.region = region;
  const pathStyle = boolProperty(props['s3.path-style-access']);
  if (pathStyle !== undefined) options.pathStyle = pathStyle;
  const accessKeyId = props['s3.access-key-id'];
  const secretAccessKey = props['s3.secret-access-key'];
  if (accessKeyId && secretAccessKey) {
    options.credentials = { accessKeyId, secretAccessKey };
    const token = props['s3.session-token'];
    if (token) options.credentials.sessionToken = token;
  }
  return options;
}

/** The SDK client configuration for these options (pure; what S3FileIO builds its client from). */
export function s3ClientConfig(options: S3FileIOOptions): S3ClientConfig {
  const config: S3ClientConfig = {
    region: options.region,
    forcePathStyle: options.pathStyle,
    maxAttempts: options.maxAttempts,
    // The SDK's default CRC32 checksums on every request trouble S3-compatible stores.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.credentials !== undefined) config.credentials = { ...options.credentials };
  return config;
}

/** SDK command name → metric label: `PutObjectCommand` → `put_object`. */
export function s3OperationLabel(commandName: string | undefined): string {
  if (!commandName) return 'unknown';
  return commandName
    .replace(/Command$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed']);
const NOT_FOUND = new Set(['NoSuchKey', 'NotFound']);

interface SdkErrorShape {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

/** An SDK error → FileNotFoundError for a missing object, ObjectStoreRequestError otherwise. */
export function toFileIOError(err: unknown, operation: string, uri: string): Error {
  if (err instanceof TailsamplerError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const status = e.$metadata?.httpStatusCode;
  // A HEAD on a missing object answers a bare 404 (no body, so no error code): it is NotFound.
  if (NOT_FOUND.has(name) || (status === 404 && operation === 'head_object' && name !== 'NoSuchBucket')) {
    return new FileNotFoundError(uri, { cause: err });
  }
  const retryable =
    status !== undefined
      ? status >= 500 || status === 429 || THROTTLING.has(name)
      : name !== 'CredentialsProviderError' && name !== 'TypeError';
  return new ObjectStoreRequestError(operation, uri, { status, storeCode: name, retryable, cause: err });
}

/**
 * Retries of single-object requests, as the SDK's standard strategy: exponential from 100 ms with
 * full jitter, at most 20 s.
 */
export const S3_BACKOFF: BackoffPolicy = { initialIntervalMs: 100, maxIntervalMs: 20_000, multiplier: 2, randomization: 1 };

interface S3Sdk {
  s3: typeof S3SdkModule;
  getEndpointFromInstructions: typeof EndpointsModule.getEndpointFromInstructions;
  http: typeof S3HttpModule;
}
let sdkLoad: Promise<S3Sdk> | null = null;

/**
 * The AWS SDK (and the signed HTTP client on its signer) is loaded when an S3 client is first needed,
 * not at start-up: it costs ~35 MiB of RSS, which an embedded (local files) setup never needs.
 */
function loadSdk(): Promise<S3Sdk> {
  sdkLoad ??= Promise.all([import('@aws-sdk/client-s3'), import('@smithy/core/endpoints'), import('./s3-http.ts')]).then(
    ([s3, endpoints, http]) => ({ s3, getEndpointFromInstructions: endpoints.getEndpointFromInstructions, http }),
  );
  return sdkLoad;
}

/** What single-object requests go through: the signed HTTP client, and the SDK's client for its config. */
interface Clients {
  sdk: S3Sdk;
  client: S3Client;
  http: SignedS3Http;
}

/** Metric labels of the single-object requests (as s3OperationLabel names the SDK's commands). */
type ObjectOp = 'put_object' | 'get_object' | 'head_object' | 'delete_object';

export interface S3FileIODeps {
  metrics?: Pick<Metrics, 's3Requests' | 's3Bytes'>;
}

/**
 * FileIO on S3 or an S3-compatible store (Garage, MinIO, R2…) for `s3://bucket/key` URIs. Writes are
 * one PutObject, or a multipart upload at or above the threshold; either way the object appears whole
 * or not at all. Single-object requests (PUT, GET, ranged GET, HEAD, DELETE: all but the multipart
 * upload) are signed with the SDK's SigV4 signer and sent by s3-http.ts, to the endpoint the SDK's
 * rules resolve and with the SDK's credential chain; the multipart upload goes through the SDK client.
 * Every request is retried up to maxAttempts with backoff. Every HTTP attempt is counted in
 * `tailsampler_s3_requests_total{op}` and its body bytes in `tailsampler_s3_bytes_total{direction}`.
 */
export class S3FileIO implements FileIO {
  readonly options: Readonly<S3FileIOOptions>;
  readonly #metrics: S3FileIODeps['metrics'];
  /** The SDK, its client and the signed HTTP client, made on the first request. */
  #ready: Promise<Clients> | null = null;
  #clients: Clients | null = null;
  /** Per bucket, where its objects are (resolved once; a failed resolution is tried again next time). */
  readonly #endpoints = new Map<string, Promise<BucketEndpoint>>();

  constructor(options: S3FileIOOptions, deps: S3FileIODeps = {}) {
    if (!(options.partSizeBytes > 0) || !(options.multipartThresholdBytes > 0)) {
      throw new TailsamplerError('TS_FILEIO_INVALID_OPTIONS', 'S3 part size and multipart threshold must be positive');
    }
    this.options = { ...options };
    this.#metrics = deps.metrics;
  }

  private clients(): Promise<Clients> {
    this.#ready ??= loadSdk().then((sdk) => {
      const client = new sdk.s3.S3Client(s3ClientConfig(this.options));
      if (this.#metrics) this.instrument(client, this.#metrics);
      // The client's resolved credentials: static ones, or the default chain (refreshed as they expire).
      this.#clients = { sdk, client, http: new sdk.http.SignedS3Http(this.options.region, client.config.credentials) };
      return this.#clients;
    });
    return this.#ready;
  }

  /** An S3FileIO for a table whose catalog handed out properties (endpoint, vended credentials). */
  static fromProperties(
    props: Readonly<Record<string, string>>,
    defaults: S3FileIOOptions = DEFAULT_S3_OPTIONS,
    deps: S3FileIODeps = {},
  ): S3FileIO {
    return new S3FileIO(s3OptionsFromProperties(props, defaults), deps);
  }

  /** Counts each HTTP attempt (the deserialize step runs inside the retry loop) and its body bytes. */
  private instrument(client: S3Client, metrics: Pick<Metrics, 's3Requests' | 's3Bytes'>): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = s3OperationLabel(context.commandName);
        const request = args.request as { method?: string; headers?: Record<string, string | undefined> };
        const sent = Number(request.headers?.['content-length'] ?? request.headers?.['Content-Length'] ?? 0);
        metrics.s3Requests.inc({ op });
        if (sent > 0) metrics.s3Bytes.inc({ direction: 'upload' }, sent);
        const out = await next(args);
        const response = out.response as { headers?: Record<string, string | undefined> };
        const received = request.method === 'HEAD' ? 0 : Number(response.headers?.['content-length'] ?? 0);
        if (received > 0) metrics.s3Bytes.inc({ direction: 'download' }, received);
        return out;
      },
      { step: 'deserialize', name: 'tailsamplerS3Metrics', priority: 'high' },
    );
  }

  /** Where the SDK's endpoint rules put `bucket` (as they would for a GetObject), and its SigV4 signing scope. */
  private endpoint(clients: Clients, bucket: string): Promise<BucketEndpoint> {
    let endpoint = this.#endpoints.get(bucket);
    if (endpoint === undefined) {
      const { sdk, client } = clients;
      endpoint = sdk.getEndpointFromInstructions({ Bucket: bucket }, sdk.s3.GetObjectCommand, client.config).then((e) => {
        const scheme = e.properties?.authSchemes?.[0] as { name?: string; signingRegion?: string; signingName?: string } | undefined;
        if (scheme !== undefined && scheme.name !== 'sigv4') {
          throw new TailsamplerError('TS_FILEIO_INVALID_OPTIONS', `S3 bucket ${bucket} wants the ${scheme.name} signing scheme; only SigV4 is supported`);
        }
        return { url: e.url, signingRegion: scheme?.signingRegion ?? this.options.region, signingName: scheme?.signingName ?? 's3' };
      });
      endpoint.catch(() => this.#endpoints.delete(bucket));
      this.#endpoints.set(bucket, endpoint);
    }
    return endpoint;
  }

  /** One single-object request with retries; failures as toFileIOError maps them. Counts attempts and bytes. */
  private async request(op: ObjectOp, uri: string, req: Omit<S3Request, 'path'>): Promise<S3Answer> {
    const { bucket, key } = parseS3Uri(uri);
    const metrics = this.#metrics;
    try {
      const clients = await this.clients();
      const endpoint = await this.endpoint(clients, bucket);
      const signed: S3Request = { ...req, path: clients.sdk.http.objectPath(endpoint, key) };
      return await retryWithBackoff(
        async (signal) => {
          metrics?.s3Requests.inc({ op });
          const sent = req.body?.byteLength ?? 0;
          if (sent > 0) metrics?.s3Bytes.inc({ direction: 'upload' }, sent);
          let answer: S3Answer;
          try {
            answer = await clients.http.send(endpoint, signed, signal);
          } catch (e) {
            throw toFileIOError(e, op, uri);
          }
          if (answer.body.byteLength > 0) metrics?.s3Bytes.inc({ direction: 'download' }, answer.body.byteLength);
          return answer;
        },
        { backoff: S3_BACKOFF, maxAttempts: this.options.maxAttempts },
      );
    } catch (e) {
      throw toFileIOError(e, op, uri);
    }
  }

  async write(uri: string, bytes: Uint8Array): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    if (bytes.byteLength >= this.options.multipartThresholdBytes && bytes.byteLength > this.options.partSizeBytes) {
      await this.writeMultipart(uri, bucket, key, bytes);
      return;
    }
    await this.request('put_object', uri, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  }

  /**
   * Parts of `partSizeBytes`, `multipartConcurrency` at a time; any failure aborts the upload, so no
   * parts are left behind. Written here rather than with @aws-sdk/lib-storage's Upload, which refuses
   * parts under 5 MiB (Garage takes smaller ones; `storage.s3.part_size_mib` allows them) and chooses
   * between one PUT and multipart by the part size instead of `multipart_threshold_mib`.
   */
  private async writeMultipart(uri: string, bucket: string, key: string, bytes: Uint8Array): Promise<void> {
    const { sdk: { s3: sdk }, client } = await this.clients();
    let uploadId: string | undefined;
    try {
      uploadId = (await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key }))).UploadId;
    } catch (e) {
      throw toFileIOError(e, 'create_multipart_upload', uri);
    }
    if (!uploadId) throw new ObjectStoreRequestError('create_multipart_upload', uri, { status: undefined, storeCode: 'NoUploadId', retryable: true, cause: undefined });
    const partSize = this.options.partSizeBytes;
    const partCount = Math.ceil(bytes.byteLength / partSize);
    const parts: CompletedPart[] = new Array<CompletedPart>(partCount);
    let nextPart = 0;
    let failed = false;
    // Each worker uploads parts until none is left or one failed anywhere, and returns its failure.
    const worker = async (): Promise<Error | null> => {
      while (!failed && nextPart < partCount) {
        const i = nextPart++;
        const body = bytes.subarray(i * partSize, Math.min(bytes.byteLength, (i + 1) * partSize));
        try {
          const r = await client.send(
            new sdk.UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: body, ContentLength: body.byteLength }),
          );
          parts[i] = { ETag: r.ETag, PartNumber: i + 1 };
        } catch (e) {
          failed = true;
          return toFileIOError(e, 'upload_part', uri);
        }
      }
      return null;
    };
    const failures = await Promise.all(Array.from({ length: Math.min(this.options.multipartConcurrency, partCount) }, worker));
    const failure = failures.find((f) => f !== null) ?? null;
    try {
      if (failure !== null) throw failure;
      await client.send(
        new sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (e) {
      // Leave no orphaned parts behind (best effort: a lifecycle rule catches what this misses).
      await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw toFileIOError(e, 'complete_multipart_upload', uri);
    }
  }

  async read(uri: string): Promise<Uint8Array> {
    return (await this.request('get_object', uri, { method: 'GET', headers: {} })).body;
  }

  /** Ranged GET. Like a file read, a range past the end comes back short (empty past the last byte). */
  async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    parseS3Uri(uri); // a URI that addresses no object is refused even for an empty range
    if (length <= 0) return new Uint8Array(0);
    let answer: S3Answer;
    try {
      answer = await this.request('get_object', uri, { method: 'GET', headers: { range: `bytes=${offset}-${offset + length - 1}` } });
    } catch (e) {
      if (e instanceof ObjectStoreRequestError && e.status === 416) return new Uint8Array(0);
      throw e;
    }
    // A store that ignores Range answers 200 with the whole object: cut the range out of it.
    if (answer.status !== 206 && answer.body.byteLength > length) return answer.body.subarray(offset, offset + length);
    return answer.body;
  }

  async size(uri: string): Promise<number> {
    const answer = await this.request('head_object', uri, { method: 'HEAD', headers: {} });
    return Number(answer.headers['content-length'] ?? 0);
  }

  /** Idempotent: deleting a missing object succeeds (S3 answers 204 either way). */
  async delete(uri: string): Promise<void> {
    try {
      await this.request('delete_object', uri, { method: 'DELETE', headers: {} });
    } catch (e) {
      if (e instanceof FileNotFoundError) return;
      throw e;
    }
  }

  /** Closes the clients' sockets. */
  close(): void {
    this.#clients?.client.destroy();
    this.#clients?.http.close();
  }
}

/**
 * Single S3 requests (GET, ranged GET, PUT, HEAD, DELETE of one object) signed with the SDK's own
 * SigV4 signer (@smithy/signature-v4) and sent over keep-alive node:http(s) agents, without the
 * SDK client's middleware stack, XML deserialisers and checksum plumbing: on the Kafka + S3 path that
 * stack cost ~1 ms of CPU per request. Endpoints and credentials still come from the SDK client's
 * resolved config (see S3FileIO), so addressing and the credential chain are the SDK's.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Sha256 } from '@smithy/core/checksum';
import { extendedEncodeURIComponent } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';

/** Where one bucket's objects are addressed and how requests to them are signed (from the SDK's endpoint rules). */
export interface BucketEndpoint {
  /** `http://host:3900/bucket` (path style) or `https://bucket.s3.region.amazonaws.com/` (virtual host). */
  url: URL;
  signingRegion: string;
  signingName: string;
}

/** The request path of `key` in the bucket: the endpoint's path, then the key's segments URI-encoded as the SDK does. */
export function objectPath(endpoint: BucketEndpoint, key: string): string {
  const base = endpoint.url.pathname.endsWith('/') ? endpoint.url.pathname : `${endpoint.url.pathname}/`;
  return base + key.split('/').map(extendedEncodeURIComponent).join('/');
}

export interface S3Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/**
 * An error answer of the store (status ≥ 300): S3's error code (`<Error><Code>`) as `name`, the status
 * in `$metadata.httpStatusCode`, the shape of the SDK's service errors, so that one mapping
 * (toFileIOError) serves both clients. A body without a code (HEAD, a proxy's page) is `NotFound` for
 * a 404 and `UnknownError` otherwise, as the SDK names them.
 */
export class S3ErrorAnswer extends Error {
  readonly $metadata: { httpStatusCode: number };
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

// S3's error document is flat (`<Error><Code>NoSuchKey</Code><Message>…</Message>…</Error>`); its code
// and message are all that is used of it.
const ERROR_CODE = /<Code>([^<]*)<\/Code>/;
const ERROR_MESSAGE = /<Message>([^<]*)<\/Message>/;
const latin1 = new TextDecoder('latin1');

export function errorAnswer(status: number, body: Uint8Array): S3ErrorAnswer {
  const text = latin1.decode(body.subarray(0, 4096));
  const code = ERROR_CODE.exec(text)?.[1] || (status === 404 ? 'NotFound' : 'UnknownError');
  const message = ERROR_MESSAGE.exec(text)?.[1] ?? `HTTP ${status}`;
  return new S3ErrorAnswer(status, code, message);
}

/** A request the signer takes and node:http sends. */
export interface S3Request {
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE';
  path: string;
  /** Headers beyond host, date, payload hash and authorization (which signing adds). */
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** The store's clock more than this off ours (as S3 allows 15 min): sign with its time from then on, as the SDK does. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

export class SignedS3Http {
  readonly #signer: SignatureV4;
  // The SDK's node handler uses the same: keep-alive, at most 50 sockets per host.
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: 50 });
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: 50 });
  /** Added to our clock when signing, learnt from a skewed store's Date header. */
  #clockOffsetMs = 0;

  /** `credentials`: fixed ones, or a provider such as the SDK client's resolved chain (asked at each signing; it caches). */
  constructor(region: string, credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials']) {
    this.#signer = new SignatureV4({
      service: 's3',
      region,
      credentials,
      sha256: Sha256,
      // S3 signs the path as sent (no second encoding) and wants the payload hash header.
      uriEscapePath: false,
      applyChecksum: true,
    });
  }

  /** The request's headers with host, `x-amz-date`, `x-amz-content-sha256` and `authorization` as SigV4 signs them at `date`. */
  async signedHeaders(endpoint: BucketEndpoint, req: S3Request, date: Date): Promise<Record<string, string>> {
    const { url } = endpoint;
    const signed = await this.#signer.sign(
      { method: req.method, protocol: url.protocol, hostname: url.hostname, path: req.path, query: {}, headers: { ...req.headers, host: url.host }, body: req.body },
      { signingDate: date, signingRegion: endpoint.signingRegion, signingService: endpoint.signingName },
    );
    return signed.headers;
  }

  /** One signed attempt: the answer for status < 300, S3ErrorAnswer otherwise; network failures as node reports them. */
  async send(endpoint: BucketEndpoint, req: S3Request, signal: AbortSignal): Promise<S3Answer> {
    const { url } = endpoint;
    const sized = req.body === undefined ? req : { ...req, headers: { ...req.headers, 'content-length': String(req.body.byteLength) } };
    const headers = await this.signedHeaders(endpoint, sized, new Date(Date.now() + this.#clockOffsetMs));
    const https = url.protocol === 'https:';
    const answer = await exchange(
      https ? httpsRequest : httpRequest,
      {
        agent: https ? this.#https : this.#http,
        method: req.method,
        hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port === '' ? (https ? 443 : 80) : Number(url.port),
        path: req.path,
        headers,
        signal,
      },
      req.body,
    );
    if (answer.status < 300) return answer;
    const serverDate = Date.parse(String(answer.headers.date));
    if (Number.isFinite(serverDate) && Math.abs(serverDate - (Date.now() + this.#clockOffsetMs)) > CLOCK_SKEW_MS) {
      this.#clockOffsetMs = serverDate - Date.now();
    }
    throw errorAnswer(answer.status, answer.body);
  }

  /** Closes the kept-alive sockets. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** Sends the request and collects the whole body (into one array of the announced length when there is one). */
function exchange(request: typeof httpRequest, options: RequestOptions & { method: S3Request['method'] }, body: Uint8Array | undefined): Promise<S3Answer> {
  return new Promise((resolve, reject) => {
    const req = request(options, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const announced = Number(res.headers['content-length']);
      const sized = options.method !== 'HEAD' && Number.isSafeInteger(announced) && announced >= 0;
      const chunks: Buffer[] = [];
      const whole = sized ? new Uint8Array(announced) : undefined;
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        if (whole === undefined) chunks.push(chunk);
        else if (received + chunk.byteLength <= whole.byteLength) whole.set(chunk, received);
        received += chunk.byteLength;
      });
      res.on('error', reject);
      res.on('end', () => {
        if (whole !== undefined && received !== whole.byteLength) {
          reject(new Error(`response body of ${received} bytes where ${whole.byteLength} were announced`));
          return;
        }
        const joined = whole ?? Buffer.concat(chunks);
        resolve({ status, headers: res.headers, body: new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

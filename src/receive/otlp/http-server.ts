/**
 * OTLP/HTTP on node:http: POST of ExportTraceServiceRequest as application/x-protobuf or
 * application/json, optionally gzip/deflate/br/zstd compressed. The body limit applies after
 * decompression and reading stops as soon as it is crossed, so nothing is buffered without bound.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { GrpcCode, countRefused, handleExport, invalid, tooLarge, type ExportFailure, type Format, type HandlerDeps } from './export-handler.ts';
import { exportResponseJson, exportResponseProtobuf, statusJson, statusProtobuf } from './responses.ts';

const SHUTDOWN_GRACE_MS = 10_000;

export interface HttpConfig {
  endpoint: string;
  max_request_body_size_mib: number;
  traces_url_path: string;
}

function formatOf(contentType: string | undefined): Format | null {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (media === 'application/x-protobuf') return 'protobuf';
  if (media === 'application/json') return 'json';
  return null;
}

function decompressor(encoding: string): Transform | null | undefined {
  switch (encoding) {
    case '':
    case 'identity':
      return null;
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      return zlib.createZstdDecompress();
    default:
      return undefined;
  }
}

class BodyTooLarge extends Error {}
class BadEncoding extends Error {}

export class OtlpHttpServer {
  private readonly server: http.Server;
  private readonly config: HttpConfig;
  private readonly deps: HandlerDeps;
  private readonly limit: number;
  private address: string | null = null;
  private closing = false;

  constructor(config: HttpConfig, deps: HandlerDeps) {
    this.config = config;
    this.deps = deps;
    this.limit = Math.floor(config.max_request_body_size_mib * 1024 * 1024);
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  boundAddress(): string | null {
    return this.address;
  }

  start(): Promise<void> {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(this.config.endpoint);
    if (!m) return Promise.reject(new Error(`bad endpoint ${this.config.endpoint}`));
    const host = m[1] ?? m[2]!;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(Number(m[3]), host, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        const port = typeof addr === 'object' && addr !== null ? addr.port : Number(m[3]);
        this.address = this.config.endpoint.replace(/:\d+$/, `:${port}`);
        resolve();
      });
    });
  }

  /** Stops accepting connections; requests in flight finish, then idle keep-alive connections close. */
  shutdown(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.config.traces_url_path) return this.plain(req, res, 404, 'not found');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return this.plain(req, res, 405, `method ${req.method} not allowed, use POST`);
    }
    const format = formatOf(req.headers['content-type']);
    if (format === null) return this.plain(req, res, 415, 'content type must be application/x-protobuf or application/json');
    const encoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    const inflate = decompressor(encoding);
    if (inflate === undefined) {
      countRefused(this.deps, 'http', 'invalid', 0);
      return this.fail(req, res, format, invalid(`unsupported content encoding ${encoding}`));
    }
    const declared = Number(req.headers['content-length']);
    if (inflate === null && declared > this.limit) return this.refuseTooLarge(req, res, format);
    this.readBody(req, inflate).then(
      async (body) => {
        // JSON bytes go as they are: the validator checks their UTF-8 instead of decoding it lossily.
        const result = await handleExport(body, 'http', this.deps, format);
        if (!result.ok) return this.fail(req, res, format, result);
        const payload = format === 'json' ? exportResponseJson(result.rejected, result.rejectionMessage) : exportResponseProtobuf(result.rejected, result.rejectionMessage);
        this.send(res, 200, format, payload);
      },
      (err: unknown) => {
        if (err instanceof BodyTooLarge) return this.refuseTooLarge(req, res, format);
        if (err instanceof BadEncoding) {
          countRefused(this.deps, 'http', 'invalid', 0);
          return this.fail(req, res, format, invalid(`cannot decompress body: ${err.message}`));
        }
        // The client went away mid-body: nobody to answer.
        this.deps.logger.debug({ err }, 'OTLP/HTTP request body aborted');
        req.destroy();
      },
    ).catch((err: unknown) => {
      this.deps.logger.error({ err }, 'OTLP/HTTP export failed unexpectedly');
      this.fail(req, res, format, { ok: false, grpcCode: GrpcCode.INTERNAL, httpStatus: 500, message: 'internal error' });
    });
  }

  /** 413 for a body over the limit. It is not read (or not to the end), so its spans are unknown: counted as a request. */
  private refuseTooLarge(req: http.IncomingMessage, res: http.ServerResponse, format: Format): void {
    countRefused(this.deps, 'http', 'too_large', 0);
    this.fail(req, res, format, tooLarge(`request body larger than ${this.config.max_request_body_size_mib} MiB`));
  }

  private readBody(req: http.IncomingMessage, inflate: Transform | null): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const source = inflate ?? req;
      const finish = (err: Error | null): void => {
        if (done) return;
        done = true;
        if (inflate) {
          req.unpipe(inflate);
          inflate.destroy();
        }
        if (err) reject(err);
        else resolve(Buffer.concat(chunks, size));
      };
      source.on('data', (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        if (size > this.limit) {
          req.pause();
          return finish(new BodyTooLarge());
        }
        chunks.push(chunk);
      });
      source.on('end', () => finish(null));
      source.on('error', (e: Error) => finish(inflate && source === inflate ? new BadEncoding(e.message) : e));
      if (inflate) {
        req.on('error', (e: Error) => finish(e));
        req.on('aborted', () => finish(new Error('aborted')));
        req.pipe(inflate);
      }
    });
  }

  private fail(req: http.IncomingMessage, res: http.ServerResponse, format: Format, f: ExportFailure): void {
    if (f.retryAfterMs !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(f.retryAfterMs / 1000))));
    const body = format === 'json' ? statusJson(f.grpcCode, f.message, f.retryAfterMs) : statusProtobuf(f.grpcCode, f.message, f.retryAfterMs);
    if (!req.complete) res.setHeader('Connection', 'close');
    this.send(res, f.httpStatus, format, body);
  }

  /** While shutting down, keep-alive connections must not outlive their last response. */
  private closeIfStopping(res: http.ServerResponse): void {
    if (this.closing) res.setHeader('Connection', 'close');
  }

  private send(res: http.ServerResponse, status: number, format: Format, body: Uint8Array | string): void {
    if (res.headersSent || res.destroyed) return;
    this.closeIfStopping(res);
    res.statusCode = status;
    res.setHeader('Content-Type', format === 'json' ? 'application/json' : 'application/x-protobuf');
    res.end(body);
  }

  /** Answers before the body was read: the connection closes afterwards instead of draining the body. */
  private plain(req: http.IncomingMessage, res: http.ServerResponse, status: number, message: string): void {
    this.closeIfStopping(res);
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    if (!req.complete) res.setHeader('Connection', 'close');
    res.end(message);
  }
}

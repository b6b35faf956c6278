import type { FileIO } from './file-io.ts';
import { InvalidFileUriError } from './file-io-errors.ts';
import { isS3Uri } from './s3-file-io.ts';

export interface RoutingFileIOOptions {
  /** `file:` URIs and plain paths. */
  local: FileIO;
  /** `s3://` and `s3a://` URIs; built on first use, so an embedded setup never creates an S3 client. */
  s3?: () => FileIO & { close?(): void };
}

/**
 * Chooses the FileIO by URI scheme, so one table (or catalog) can hold local and S3 paths: the
 * metadata JSON, manifests and data files go wherever their URI says.
 */
export class RoutingFileIO implements FileIO {
  private readonly local: FileIO;
  private readonly makeS3: (() => FileIO & { close?(): void }) | undefined;
  private s3: (FileIO & { close?(): void }) | null = null;

  constructor(options: RoutingFileIOOptions) {
    this.local = options.local;
    this.makeS3 = options.s3;
  }

  /** The FileIO that handles `uri`; a scheme nobody handles is an InvalidFileUriError. */
  route(uri: string): FileIO {
    if (isS3Uri(uri)) {
      if (!this.makeS3) throw new InvalidFileUriError(uri, 'S3 URIs need storage.s3 to be configured');
      this.s3 ??= this.makeS3();
      return this.s3;
    }
    if (uri.startsWith('file:') || !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(uri)) return this.local;
    throw new InvalidFileUriError(uri, `unsupported scheme (have: file, s3, s3a)`);
  }

  // Methods are async so that a routing error is a rejection (callers chain .catch on these).
  async write(uri: string, bytes: Uint8Array): Promise<void> {
    return this.route(uri).write(uri, bytes);
  }

  async read(uri: string): Promise<Uint8Array> {
    return this.route(uri).read(uri);
  }

  async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    return this.route(uri).readRange(uri, offset, length);
  }

  async size(uri: string): Promise<number> {
    return this.route(uri).size(uri);
  }

  async delete(uri: string): Promise<void> {
    return this.route(uri).delete(uri);
  }

  /** Releases the S3 client's sockets, if one was made. */
  close(): void {
    this.s3?.close?.();
    this.s3 = null;
  }
}

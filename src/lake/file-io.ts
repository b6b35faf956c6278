import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FileNotFoundError, InvalidFileUriError } from './file-io-errors.ts';

/**
 * Where table files live. Paths are absolute URIs as they appear in Iceberg metadata
 * (`file:///…` for the embedded warehouse; `s3://…` arrives with the S3 implementation).
 */
export interface FileIO {
  /** Writes a whole object; it becomes visible at once and whole (write to a temporary name, then rename). */
  write(uri: string, bytes: Uint8Array): Promise<void>;
  read(uri: string): Promise<Uint8Array>;
  /** Reads `length` bytes at `offset` (for Parquet footers and column chunks). */
  readRange(uri: string, offset: number, length: number): Promise<Uint8Array>;
  size(uri: string): Promise<number>;
  delete(uri: string): Promise<void>;
}

export function toFileUri(path: string): string {
  return pathToFileURL(path).href;
}

function localPath(uri: string): string {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  // Another scheme (s3://…) would otherwise become a relative path and be written under the cwd.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) throw new InvalidFileUriError(uri, 'not a local file (LocalFileIO takes file:// URIs and paths)');
  return uri;
}

/** A missing file is FileNotFoundError, as from every FileIO. */
async function local<T>(uri: string, fn: (path: string) => Promise<T>): Promise<T> {
  try {
    return await fn(localPath(uri));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new FileNotFoundError(uri, { cause: e });
    throw e;
  }
}

/** FileIO on the local filesystem, for the embedded warehouse. */
export class LocalFileIO implements FileIO {
  async write(uri: string, bytes: Uint8Array): Promise<void> {
    const path = localPath(uri);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  }

  async read(uri: string): Promise<Uint8Array> {
    return local(uri, (path) => readFile(path));
  }

  async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    const fh = await local(uri, (path) => open(path, 'r'));
    try {
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === length ? buf : buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }

  async size(uri: string): Promise<number> {
    return (await local(uri, (path) => stat(path))).size;
  }

  async delete(uri: string): Promise<void> {
    await rm(localPath(uri), { force: true });
  }
}

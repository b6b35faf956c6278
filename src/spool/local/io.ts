import { open, type FileHandle } from 'node:fs/promises';

/** Reads exactly `buf.length` bytes at `position`; fewer means the file is shorter than expected. */
export async function readFully(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes all of `bufs` at `position`, continuing after short writes (possible e.g. near ENOSPC). */
export async function writeFully(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const b of bufs) total += b.length;
  const { bytesWritten } = await fh.writev(bufs, position);
  if (bytesWritten === total) return;
  let rest = Buffer.concat(bufs).subarray(bytesWritten);
  let at = position + bytesWritten;
  while (rest.length > 0) {
    const { bytesWritten: n } = await fh.write(rest, 0, rest.length, at);
    if (n === 0) throw new Error(`short write at offset ${at}`);
    rest = rest.subarray(n);
    at += n;
  }
}

/** Makes creations and deletions of files in `dir` durable (a new segment must survive a crash). */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

import { open } from 'node:fs/promises';
import { SEGMENT_HEADER_SIZE, parseFrame, segmentHeaderProblem } from './frame.ts';
import { readFully } from './io.ts';

export interface ScanResult {
  fileSize: number;
  /** Offset just past the last valid frame (0 when even the header is invalid). */
  validEnd: number;
  /** Why the file stops being valid at validEnd, or null when all of it is valid. */
  problem: string | null;
}

const SCAN_CHUNK = 4 * 1024 * 1024;

/** Checks every frame of a segment file (startup only), without holding more than a chunk in memory. */
export async function scanSegment(path: string): Promise<ScanResult> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const header = Buffer.alloc(Math.min(fileSize, SEGMENT_HEADER_SIZE));
    await readFully(fh, header, 0);
    const headerProblem = segmentHeaderProblem(header);
    if (headerProblem !== null) return { fileSize, validEnd: 0, problem: headerProblem };

    let pos = SEGMENT_HEADER_SIZE;
    let want = 0;
    while (pos < fileSize) {
      const len = Math.min(fileSize - pos, Math.max(SCAN_CHUNK, want));
      const buf = Buffer.allocUnsafe(len);
      const got = await readFully(fh, buf, pos);
      if (got < len) return { fileSize, validEnd: pos, problem: 'file shrank while scanning' };
      let at = 0;
      want = 0;
      while (at < len) {
        const f = parseFrame(buf, at);
        if (f.kind === 'record') {
          at = f.end;
          continue;
        }
        if (f.kind === 'corrupt') return { fileSize, validEnd: pos + at, problem: f.reason };
        if (pos + at + f.need > fileSize) return { fileSize, validEnd: pos + at, problem: 'short frame' };
        want = f.need;
        break;
      }
      pos += at;
    }
    return { fileSize, validEnd: pos, problem: null };
  } finally {
    await fh.close();
  }
}

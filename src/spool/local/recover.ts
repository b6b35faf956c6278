import { open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../telemetry/logger.ts';
import { SpoolCorruptError } from './errors.ts';
import { SEGMENT_HEADER_SIZE, segmentHeader } from './frame.ts';
import { fsyncDir, writeFully } from './io.ts';
import { parseSegmentFileName, segmentFileName } from './position.ts';
import { scanSegment } from './segment-scan.ts';

export interface Segment {
  num: number;
  path: string;
  /** Durable size in bytes, header included: everything below it has been fsynced. */
  size: number;
}

/**
 * Scans every segment in `dir` at startup. A torn or corrupt tail of the LAST segment is what a
 * crash mid-append leaves (never acknowledged), so it is cut off; anything wrong earlier would mean
 * losing acknowledged records, so it is an error naming file and offset.
 */
export async function recoverSegments(dir: string, logger: Logger): Promise<Segment[]> {
  const nums = (await readdir(dir))
    .map(parseSegmentFileName)
    .filter((n): n is number => n !== null)
    .sort((a, b) => a - b);
  for (let i = 1; i < nums.length; i++) {
    if (nums[i] !== nums[i - 1]! + 1) {
      const missing = join(dir, segmentFileName(nums[i - 1]! + 1));
      throw new SpoolCorruptError(missing, 0, 'segment file missing between retained segments');
    }
  }
  const segments: Segment[] = [];
  for (let i = 0; i < nums.length; i++) {
    const num = nums[i]!;
    const path = join(dir, segmentFileName(num));
    const scan = await scanSegment(path);
    if (scan.problem !== null) {
      // A torn header is only possible in a file no record was ever written to (the header is
      // synced before any frame), so a bad header in front of data is real corruption.
      const tornTail = i === nums.length - 1 && (scan.validEnd > 0 || scan.fileSize <= SEGMENT_HEADER_SIZE);
      if (!tornTail) throw new SpoolCorruptError(path, scan.validEnd, scan.problem);
      await truncateTail(path, scan.validEnd);
      logger.warn(
        { file: path, offset: scan.validEnd, droppedBytes: scan.fileSize - scan.validEnd, reason: scan.problem },
        'truncated a torn tail left by a crash: these bytes were never acknowledged',
      );
    }
    segments.push({ num, path, size: Math.max(scan.validEnd, SEGMENT_HEADER_SIZE) });
  }
  return segments;
}

async function truncateTail(path: string, validEnd: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.truncate(validEnd);
    if (validEnd < SEGMENT_HEADER_SIZE) {
      await fh.truncate(0);
      await writeFully(fh, [segmentHeader()], 0);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates segment `num` with its header, durably (file and directory entry) before any record. */
export async function createSegment(dir: string, num: number): Promise<{ seg: Segment; fh: FileHandle }> {
  const path = join(dir, segmentFileName(num));
  // 'w', not 'wx': a file with this number can only be a leftover of a failed earlier attempt.
  const fh = await open(path, 'w');
  try {
    await writeFully(fh, [segmentHeader()], 0);
    await fh.sync();
    await fsyncDir(dir);
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
  return { seg: { num, path, size: SEGMENT_HEADER_SIZE }, fh };
}

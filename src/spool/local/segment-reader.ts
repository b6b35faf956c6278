import { open } from 'node:fs/promises';
import { SpoolCorruptError } from './errors.ts';
import { parseFrame } from './frame.ts';
import { readFully } from './io.ts';

export interface ReadFrame {
  payload: Buffer;
  /** Offset just past the frame. */
  end: number;
}

export interface SegmentRead {
  frames: ReadFrame[];
  payloadBytes: number;
  /** True when reading stopped because the budget was reached (not because the range ended). */
  budgetReached: boolean;
}

const READ_CHUNK = 1024 * 1024;
/** Read past the budget's payload bytes, for the frame headers around them (8 bytes a record). */
const READ_SLACK = 64 * 1024;

/**
 * Reads the frames in [start, end) of a segment until `budget` payload bytes are used. When
 * `atLeastOne` is set the first frame is returned whatever its size, so a huge record cannot stall
 * the reader. The range is already durable and was validated at startup or written by us, so a bad
 * frame here is real corruption.
 */
export async function readSegment(
  path: string,
  start: number,
  end: number,
  budget: number,
  atLeastOne: boolean,
): Promise<SegmentRead> {
  const fh = await open(path, 'r');
  const frames: ReadFrame[] = [];
  let payloadBytes = 0;
  try {
    let pos = start;
    let want = 0;
    while (pos < end) {
      // The whole budget in one read where the segment has it: each read waits for a thread-pool turn
      // (behind the spool's fsyncs) and then an event-loop turn, ~10-50 ms apiece under full load.
      const len = Math.min(end - pos, Math.max(READ_CHUNK, want, budget - payloadBytes + READ_SLACK));
      const buf = Buffer.allocUnsafe(len);
      if ((await readFully(fh, buf, pos)) < len) throw new SpoolCorruptError(path, pos, 'segment shorter than recorded');
      let at = 0;
      want = 0;
      while (at < len) {
        const f = parseFrame(buf, at);
        if (f.kind === 'corrupt') throw new SpoolCorruptError(path, pos + at, f.reason);
        if (f.kind === 'incomplete') {
          if (pos + at + f.need > end) throw new SpoolCorruptError(path, pos + at, 'frame crosses the durable end');
          want = f.need;
          break;
        }
        const mayExceed = atLeastOne && frames.length === 0;
        if (payloadBytes + f.payload.length > budget && !mayExceed) {
          return { frames, payloadBytes, budgetReached: true };
        }
        frames.push({ payload: f.payload, end: pos + f.end });
        payloadBytes += f.payload.length;
        at = f.end;
        if (payloadBytes >= budget) return { frames, payloadBytes, budgetReached: true };
      }
      pos += at;
    }
    return { frames, payloadBytes, budgetReached: false };
  } finally {
    await fh.close();
  }
}

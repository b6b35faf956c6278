import type { SpoolPosition } from '../spool.ts';
import { SpoolPositionError } from './errors.ts';

/**
 * Local spool positions.
 *
 * Format: `<segment>:<offset>`, both decimal and zero-padded to 20 digits, e.g.
 * `00000000000000000003:00000000000001048576` = segment file `00000000000000000003.seg`, byte offset
 * 1048576 in that file (counting the segment header). A record's `next` is the offset just past its
 * frame. Because both parts are fixed-width, plain string comparison orders positions exactly like
 * `comparePositions`; parsing also accepts unpadded digits.
 */
export interface LocalPosition {
  segment: number;
  offset: number;
}

const DIGITS = 20;
const POSITION_RE = /^(\d{1,20}):(\d{1,20})$/;
const SEGMENT_FILE_RE = /^(\d{20})\.seg$/;

export function formatPosition(p: LocalPosition): SpoolPosition {
  return `${String(p.segment).padStart(DIGITS, '0')}:${String(p.offset).padStart(DIGITS, '0')}`;
}

export function parsePosition(s: SpoolPosition): LocalPosition {
  const m = POSITION_RE.exec(s);
  if (m === null) throw new SpoolPositionError(`not a local spool position: ${JSON.stringify(s)}`);
  const segment = Number(m[1]);
  const offset = Number(m[2]);
  if (!Number.isSafeInteger(segment) || !Number.isSafeInteger(offset)) {
    throw new SpoolPositionError(`local spool position out of range: ${JSON.stringify(s)}`);
  }
  return { segment, offset };
}

/** Negative, zero or positive as `a` is before, equal to or after `b`. */
export function comparePositions(a: LocalPosition, b: LocalPosition): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}

export function segmentFileName(segment: number): string {
  return `${String(segment).padStart(DIGITS, '0')}.seg`;
}

/** The segment number of a spool file name, or null for any other file (lock, strays). */
export function parseSegmentFileName(name: string): number | null {
  const m = SEGMENT_FILE_RE.exec(name);
  if (m === null) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

import { crc32 } from 'node:zlib';

/**
 * On-disk layout of a segment:
 *   header: u32 magic "TSPL" | u32 format version            (8 bytes, little endian)
 *   frames: u32 payload length | u32 crc | payload bytes      (repeated)
 * The crc is crc32 of the payload with a non-zero initial value: with a zero seed an all-zero frame
 * header (what a file system may leave in a file extended by a crash) would be a valid empty record.
 */
export const SEGMENT_MAGIC = 0x4c505354; // "TSPL" read as little-endian u32
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_SIZE = 8;
export const FRAME_HEADER_SIZE = 8;
/** Far above any receiver limit; a larger length field is corruption, not a record. */
export const MAX_RECORD_BYTES = 512 * 1024 * 1024;
const CRC_SEED = 0x7453_706c;

export function segmentHeader(): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_SIZE);
  b.writeUInt32LE(SEGMENT_MAGIC, 0);
  b.writeUInt32LE(SEGMENT_VERSION, 4);
  return b;
}

/** Why `buf` is not a valid segment header, or null when it is. */
export function segmentHeaderProblem(buf: Buffer): string | null {
  if (buf.length < SEGMENT_HEADER_SIZE) return 'short segment header';
  if (buf.readUInt32LE(0) !== SEGMENT_MAGIC) return 'bad segment magic';
  const version = buf.readUInt32LE(4);
  if (version !== SEGMENT_VERSION) return `unsupported segment version ${version}`;
  return null;
}

export function frameCrc(payload: Uint8Array): number {
  return crc32(payload, CRC_SEED) >>> 0;
}

export function frameHeader(payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  b.writeUInt32LE(payload.length, 0);
  b.writeUInt32LE(frameCrc(payload), 4);
  return b;
}

export type FrameParse =
  | { kind: 'record'; payload: Buffer; end: number }
  /** `need`: bytes from the frame start required to parse it. */
  | { kind: 'incomplete'; need: number }
  | { kind: 'corrupt'; reason: string };

/** Parses the frame starting at `at` in `buf` (which holds a contiguous slice of a segment). */
export function parseFrame(buf: Buffer, at: number): FrameParse {
  const avail = buf.length - at;
  if (avail < FRAME_HEADER_SIZE) return { kind: 'incomplete', need: FRAME_HEADER_SIZE };
  const len = buf.readUInt32LE(at);
  if (len > MAX_RECORD_BYTES) return { kind: 'corrupt', reason: `frame length ${len} is implausible` };
  const need = FRAME_HEADER_SIZE + len;
  if (avail < need) return { kind: 'incomplete', need };
  const payload = buf.subarray(at + FRAME_HEADER_SIZE, at + need);
  if (frameCrc(payload) !== buf.readUInt32LE(at + 4)) return { kind: 'corrupt', reason: 'frame crc mismatch' };
  return { kind: 'record', payload, end: at + need };
}

/**
 * zstd for Parquet pages. Node's zlib builds a new native context on every zstdCompressSync /
 * zstdDecompressSync call (~40 µs compressing, ~30 µs decompressing, however small the input; under
 * the service's MALLOC_MMAP_THRESHOLD_ its context's buffers are fresh mappings each call, page
 * faults included). zstd compiled to wasm (@bokuweb/zstd-wasm), with one compression context kept
 * for the process, compresses pages up to 2 MiB (it is slower per byte than node on incompressible
 * pages, but the context node rebuilds costs more than that at the page sizes our files have) and
 * decodes them in a third to half of node's time. Both write zstd frames (RFC 8878) with the
 * content size in their header, which every zstd decoder reads.
 */
import { constants as zlibConstants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { compressUsingDict, createCCtx, decompress, init } from '@bokuweb/zstd-wasm';

await init();
/** The wasm compression context, reused for every page (compressUsingDict resets it per call). */
const cctx = createCCtx();
const NO_DICT = new Uint8Array(0);

/** ZSTD level 3: zstd's default, far better ratio than snappy on JSON text at similar speed. */
const ZSTD_LEVEL = 3;
const NODE_OPTIONS = { params: { [zlibConstants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } };

/**
 * Pages up to this many bytes are stored in a zstd frame holding one raw (uncompressed) block:
 * more than half the pages of a production-sized file (1-2K rows) are a few bytes (run-length
 * dictionary indexes of near-constant int columns, definition-level-only pages of all-null
 * columns), which zstd would not shrink, and copying them costs nothing next to a zstd call.
 */
export const ZSTD_RAW_MAX = 64;

/**
 * Pages up to this many bytes are compressed in wasm, larger ones (a span with megabytes of
 * attributes) by node: the wasm heap holds a page, its compressed bound and a context sized for
 * it, and never shrinks. Data pages are cut after 1 MiB of values (encode.ts). Measured on files
 * of 1,000 telemetrygen spans with the service's malloc settings, compressing every page in wasm
 * instead of only those up to 8 KiB: writeDataFile 4.4-4.9 → 3.1-3.3 µs per span, same bytes.
 */
export const ZSTD_WASM_COMPRESS_MAX = 2 << 20;

/**
 * Frames declaring up to this many bytes of content are decoded in wasm (faster than node at every
 * page size measured, up to 1 MiB pages: 0.3 against 1.1 ms). Its decoder allocates the declared
 * size in wasm memory, which never shrinks: this bounds that memory, as for compression.
 */
export const ZSTD_WASM_DECOMPRESS_MAX = ZSTD_WASM_COMPRESS_MAX;

/**
 * `input` as a zstd frame (RFC 8878 §3.1.1) of one raw block: magic, a frame header with
 * Single_Segment set and a one-byte Frame_Content_Size, then a block header (last block, raw,
 * size n) and the bytes. Every zstd decoder reads it; it is what zstd itself writes for an empty input.
 */
export function zstdRawFrame(input: Uint8Array): Uint8Array {
  const n = input.length;
  if (n > 255) throw new RangeError(`a one-byte Frame_Content_Size cannot hold ${n}`);
  const out = new Uint8Array(9 + n);
  out.set([0x28, 0xb5, 0x2f, 0xfd, 0x20, n, 1 | ((n << 3) & 0xff), (n << 3) >> 8, 0]);
  out.set(input, 9);
  return out;
}

/**
 * The bytes a frame of {@link zstdRawFrame}'s shape holds (one raw block, a one-byte content size),
 * or undefined for any other frame. Most pages of our files are such: no decoder call for them.
 */
function rawFrameBody(b: Uint8Array): Uint8Array | undefined {
  if (b.length < 9 || b[0] !== 0x28 || b[1] !== 0xb5 || b[2] !== 0x2f || b[3] !== 0xfd || b[4] !== 0x20) return undefined;
  const n = b[5]!;
  const block = b[6]! | (b[7]! << 8) | (b[8]! << 16);
  return block === (1 | (n << 3)) && b.length === 9 + n ? b.subarray(9) : undefined;
}

/** One Parquet page's bytes as a zstd frame (with its content size, as every encoder here writes it). */
export function zstdCompress(input: Uint8Array): Uint8Array {
  if (input.length <= ZSTD_RAW_MAX) return zstdRawFrame(input);
  if (input.length <= ZSTD_WASM_COMPRESS_MAX) return compressUsingDict(cctx, input, NO_DICT, ZSTD_LEVEL);
  return zstdCompressSync(input, NODE_OPTIONS);
}

/** Bytes of Dictionary_ID by Dictionary_ID_flag, and of Frame_Content_Size by its flag (RFC 8878 §3.1.1.1.1). */
const DICT_ID_BYTES = [0, 1, 2, 4];
const FCS_BYTES = [0, 2, 4, 8];
/** The largest window a frame header may declare for our wasm decoder (zstd's 32-bit ZSTD_WINDOWLOG_MAX is 30); 2^27 is what zstd decoders accept by default. */
const MAX_WINDOW_LOG = 27;

/**
 * The Frame_Content_Size declared by the zstd frame header at the start of `frame` (RFC 8878
 * §3.1.1.1), or -1 when the frame does not declare one, is not a zstd frame, has a malformed or
 * truncated header, or declares a window over 2^27 bytes. Sizes of 2^32 and above come back as
 * Infinity.
 */
export function zstdContentSize(frame: Uint8Array): number {
  if (frame.length < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return -1;
  const fhd = frame[4]!;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  if (fhd & 0x08) return -1; // reserved bit
  let pos = 5;
  if (!singleSegment) {
    if ((frame[pos++]! >> 3) + 10 > MAX_WINDOW_LOG) return -1;
  }
  pos += DICT_ID_BYTES[fhd & 3]!;
  const fcsBytes = fcsFlag === 0 ? singleSegment : FCS_BYTES[fcsFlag]!;
  if (fcsBytes === 0 || frame.length < pos + fcsBytes) return -1;
  switch (fcsBytes) {
    case 1:
      return frame[pos]!;
    case 2:
      return (frame[pos]! | (frame[pos + 1]! << 8)) + 256;
    default: {
      const low = (frame[pos]! | (frame[pos + 1]! << 8) | (frame[pos + 2]! << 16) | (frame[pos + 3]! << 24)) >>> 0;
      if (fcsBytes === 4) return low;
      const high = frame[pos + 4]! | frame[pos + 5]! | frame[pos + 6]! | frame[pos + 7]!;
      return high === 0 ? low : Infinity;
    }
  }
}

/**
 * Decodes one Parquet page's zstd frame(s), which must hold `outputLength` bytes. A raw frame of
 * {@link zstdRawFrame}'s shape is unwrapped without a decoder call. Frames declaring
 * exactly that size, at most {@link ZSTD_WASM_DECOMPRESS_MAX}, are decoded in wasm; everything
 * else (no declared size, a size other than the page header's, a larger one) and anything the wasm
 * decoder rejects goes to node, whose output is capped at `outputLength` and whose errors say what
 * is wrong with the input.
 */
export function zstdDecompress(input: Uint8Array, outputLength: number): Uint8Array {
  const raw = rawFrameBody(input);
  if (raw !== undefined && raw.length === outputLength) return raw;
  const size = zstdContentSize(input);
  if (size > 0 && size === outputLength && size <= ZSTD_WASM_DECOMPRESS_MAX) {
    try {
      return decompress(input);
    } catch {
      // Corrupt input: node's decoder below fails on it with an error that names the problem.
    }
  }
  return zstdDecompressSync(input, { maxOutputLength: Math.max(1, outputLength) });
}

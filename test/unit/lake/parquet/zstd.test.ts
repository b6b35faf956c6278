import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { decompress as wasmDecompress } from '@bokuweb/zstd-wasm';
import { ZSTD_RAW_MAX, ZSTD_WASM_COMPRESS_MAX, ZSTD_WASM_DECOMPRESS_MAX, zstdCompress, zstdContentSize, zstdDecompress, zstdRawFrame } from '../../../../src/lake/parquet/zstd.ts';
import { ParquetReadError, readDataFile } from '../../../../src/lake/parquet/read.ts';
import { writeDataFile } from '../../../../src/lake/parquet/write.ts';
import { syntheticBatch } from './fixtures.ts';
import { MemoryIO } from '../../../support/memory-file-io.ts';

test('tiny pages become zstd frames of one raw block that zstd decodes to the same bytes', () => {
  // An empty input is exactly what zstd itself writes.
  assert.deepEqual(Buffer.from(zstdRawFrame(new Uint8Array(0))), zstdCompressSync(new Uint8Array(0)));
  for (let n = 0; n <= 255; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    assert.deepEqual(new Uint8Array(zstdDecompressSync(zstdRawFrame(bytes))), bytes, `${n} bytes`);
    same(zstdDecompress(zstdRawFrame(bytes), n), bytes, `${n} bytes`);
  }
  assert.throws(() => zstdRawFrame(new Uint8Array(256)), RangeError);
});

test('pages up to ZSTD_RAW_MAX bytes are stored raw, larger ones compressed', () => {
  const small = new Uint8Array(ZSTD_RAW_MAX);
  assert.equal(zstdCompress(small).length, ZSTD_RAW_MAX + 9);
  const large = new Uint8Array(ZSTD_RAW_MAX + 1000);
  const packed = zstdCompress(large);
  assert.ok(packed.length < 100, 'zeros compress');
  assert.deepEqual(new Uint8Array(zstdDecompressSync(packed)), large);
});

/** Half random hex, half repeated text: compressible, but not to nothing. */
function page(n: number): Uint8Array {
  const out = Buffer.alloc(n);
  const hex = randomBytes(Math.ceil(n / 4)).toString('hex');
  for (let i = 0; i < n; i++) out[i] = i % 64 < 32 ? hex.charCodeAt(i % hex.length) : '{"http.route":"/api"}'.charCodeAt(i % 21);
  return new Uint8Array(out);
}

/** Same bytes, whatever the Uint8Array subclass (node's decoder gives Buffers). */
function same(got: Uint8Array, want: Uint8Array, message: string): void {
  assert.ok(Buffer.from(got.buffer, got.byteOffset, got.length).equals(want), message);
}

const SIZES = [ZSTD_RAW_MAX + 1, 1000, ZSTD_WASM_COMPRESS_MAX - 1, ZSTD_WASM_COMPRESS_MAX, ZSTD_WASM_COMPRESS_MAX + 1, 100_000, ZSTD_WASM_DECOMPRESS_MAX, ZSTD_WASM_DECOMPRESS_MAX + 1];

test('pages round-trip at sizes on both sides of the wasm/node limits, in frames every zstd decoder reads', () => {
  for (const n of SIZES) {
    const bytes = page(n);
    const frame = zstdCompress(bytes);
    if (n >= 1000) assert.ok(frame.length < n / 2, `${n} bytes compress`);
    // Which coder ran: node's return Buffers, the wasm ones plain Uint8Arrays.
    assert.equal(frame instanceof Buffer, n > ZSTD_WASM_COMPRESS_MAX, `${n} bytes compressed by ${n > ZSTD_WASM_COMPRESS_MAX ? 'node' : 'wasm'}`);
    assert.equal(zstdContentSize(frame), n, `${n}: the frame declares its content size`);
    const out = zstdDecompress(frame, n);
    assert.equal(out instanceof Buffer, n > ZSTD_WASM_DECOMPRESS_MAX, `${n} bytes decompressed by ${n > ZSTD_WASM_DECOMPRESS_MAX ? 'node' : 'wasm'}`);
    same(out, bytes, `${n} bytes`);
    same(new Uint8Array(zstdDecompressSync(frame)), bytes, `${n} bytes through node`);
  }
});

test('frames written by node and by the wasm encoder decode through both decoders', () => {
  const node = (b: Uint8Array) => new Uint8Array(zstdCompressSync(b, { params: { [constants.ZSTD_c_compressionLevel]: 3 } }));
  for (const n of [0, 1, 300, 5000, 200_000]) {
    const bytes = page(n);
    for (const frame of [node(bytes), zstdCompress(bytes)]) {
      same(zstdDecompress(frame, n), bytes, `${n} bytes`);
      same(new Uint8Array(zstdDecompressSync(frame)), bytes, `${n} bytes through node`);
      same(wasmDecompress(frame), bytes, `${n} bytes through wasm`);
    }
  }
  // Node's frames declare their size too, so pages of files written before the wasm encoder decode in wasm.
  assert.equal(zstdContentSize(node(page(5000))), 5000);
});

test('the declared content size is read from every header layout of RFC 8878 §3.1.1.1', () => {
  const magic = [0x28, 0xb5, 0x2f, 0xfd];
  const frame = (...header: number[]) => Uint8Array.from([...magic, ...header, 0, 0, 0]);
  assert.equal(zstdContentSize(frame(0x20, 200)), 200); // single segment, 1-byte size
  assert.equal(zstdContentSize(frame(0x60, 0x34, 0x12)), 0x1234 + 256); // 2-byte size, offset by 256
  assert.equal(zstdContentSize(frame(0xa0, 0x78, 0x56, 0x34, 0x12)), 0x12345678); // 4-byte size
  assert.equal(zstdContentSize(frame(0xe0, 1, 0, 0, 0, 0, 0, 0, 0)), 1); // 8-byte size
  assert.equal(zstdContentSize(frame(0xe0, 0, 0, 0, 0, 1, 0, 0, 0)), Infinity); // 2^32: beyond any page
  assert.equal(zstdContentSize(frame(0x63, 0x01, 0x02, 0x03, 0x04, 0x10, 0x00)), 16 + 256); // 4-byte dictionary id first
  assert.equal(zstdContentSize(frame(0x40, 0x80, 0x10, 0x00)), 16 + 256); // window descriptor first
  assert.equal(zstdContentSize(frame(0x00, 0x80)), -1); // no size declared
  assert.equal(zstdContentSize(frame(0x40, 0x90, 0x10, 0x00)), -1); // a 2^28 window: left to node
  assert.equal(zstdContentSize(frame(0x28, 200)), -1); // reserved bit set
  assert.equal(zstdContentSize(Uint8Array.from([...magic, 0xa0, 0x78, 0x56])), -1); // truncated header
  assert.equal(zstdContentSize(Uint8Array.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])), -1); // skippable frame
  assert.equal(zstdContentSize(new Uint8Array(0)), -1);
});

test('a frame lying about its size, a truncated or corrupt frame and an empty input fail with an error, never a huge allocation', () => {
  const bytes = page(5000);
  const frame = zstdCompress(bytes);
  // Declares 2^32-1 bytes (4-byte size) in front of the real blocks: node is asked, capped at the page size.
  const liar = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0xff, 0xff, 0xff, 0xff, ...frame.subarray(7)]);
  assert.equal(zstdContentSize(liar), 2 ** 32 - 1);
  assert.throws(() => zstdDecompress(liar, 5000), /too much memory/);
  // Declares the page size but holds fewer bytes: the wasm decoder refuses it, then node does.
  const short = zstdCompress(bytes.subarray(0, 4000));
  const shortLiar = Uint8Array.from(short);
  shortLiar.set([0x88, 0x12], 5); // 0x1288 + 256 = 5000
  assert.equal(zstdContentSize(shortLiar), 5000);
  assert.throws(() => zstdDecompress(shortLiar, 5000), /corruption/);
  // The page header expects another size than the frame holds.
  assert.throws(() => zstdDecompress(frame, 4000), /larger than 4000 bytes/);
  assert.throws(() => zstdDecompress(frame.subarray(0, frame.length - 10), 5000), /unexpected end of file/);
  assert.throws(() => zstdDecompress(frame.subarray(0, 5), 5000), /unexpected end of file/);
  assert.throws(() => zstdDecompress(new Uint8Array(0), 0), /unexpected end of file/);
  assert.throws(() => zstdDecompress(Buffer.from('not a zstd frame'), 16), /Unknown frame descriptor/);
  // The decoders still work after all that.
  same(zstdDecompress(frame, 5000), bytes, 'after the failures');
});

test('a data file with a corrupt zstd page reads as a ParquetReadError naming the file', async () => {
  const batch = syntheticBatch({ spans: 500, spansPerTrace: 5 });
  const { bytes } = writeDataFile(batch, Int32Array.from({ length: 500 }, (_, i) => i), { rowGroupSize: 1000 });
  const io = new MemoryIO();
  await io.write('good.parquet', bytes);
  const good = await readDataFile(io, 'good.parquet', bytes.length, ['span_id']);
  assert.deepEqual(good.span_id, batch.span_id);
  // Garble the compressed blocks of the first page (the trace id dictionary: 100 random ids), past its frame header.
  const bad = Uint8Array.from(bytes);
  const at = bad.findIndex((b, i) => b === 0x28 && bad[i + 1] === 0xb5 && bad[i + 2] === 0x2f && bad[i + 3] === 0xfd);
  assert.equal(zstdContentSize(bad.subarray(at)), 100 * 36);
  bad.fill(0xff, at + 12, at + 44);
  await io.write('bad.parquet', bad);
  await assert.rejects(
    readDataFile(io, 'bad.parquet', bad.length, ['trace_id']),
    (e: unknown) => e instanceof ParquetReadError && e.code === 'TS_LAKE_PARQUET_READ' && /bad\.parquet.*corruption/.test(e.message),
  );
});

test('a raw frame of zstdRawFrame shape is unwrapped in place, and decoded like any frame when its size is not the page size', () => {
  const bytes = Uint8Array.from({ length: 40 }, (_, i) => i * 3);
  const frame = zstdRawFrame(bytes);
  const out = zstdDecompress(frame, 40);
  assert.equal(out.buffer, frame.buffer, 'a view of the frame, no decoder call');
  same(out, Buffer.from(bytes), 'the raw bytes');
  // Another page size: decoded like any frame (the callers check the length against the page's).
  const decoded = zstdDecompress(frame, 41);
  assert.notEqual(decoded.buffer, frame.buffer);
  same(decoded, Buffer.from(bytes), 'decoded');
});

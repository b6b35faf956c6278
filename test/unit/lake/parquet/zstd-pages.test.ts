import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { ZSTD_RAW_MAX, zstd, zstdRawFrame } from '../../../../src/lake/parquet/write.ts';

test('tiny pages become zstd frames of one raw block that zstd decodes to the same bytes', () => {
  // An empty input is exactly what zstd itself writes.
  assert.deepEqual(Buffer.from(zstdRawFrame(new Uint8Array(0))), zstdCompressSync(new Uint8Array(0)));
  for (let n = 0; n <= 255; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    assert.deepEqual(new Uint8Array(zstdDecompressSync(zstdRawFrame(bytes))), bytes, `${n} bytes`);
  }
  assert.throws(() => zstdRawFrame(new Uint8Array(256)), RangeError);
});

test('pages up to ZSTD_RAW_MAX bytes are stored raw, larger ones compressed', () => {
  const small = new Uint8Array(ZSTD_RAW_MAX);
  assert.equal(zstd(small).length, ZSTD_RAW_MAX + 9);
  const large = new Uint8Array(ZSTD_RAW_MAX + 1000);
  const packed = zstd(large);
  assert.ok(packed.length < 100, 'zeros compress');
  assert.deepEqual(new Uint8Array(zstdDecompressSync(packed)), large);
});

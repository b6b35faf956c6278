import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bucketHexOfBytes,
  bucketString,
  dayFromMicros,
  deserializeBound,
  murmur3x86_32,
  serializeBound,
} from '../../../src/lake/transforms.ts';

function longBytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, v, true);
  return b;
}

// Iceberg spec, Appendix B: "32-bit Hash Requirements" test vectors.
test('murmur3 matches the spec vectors for int and long (hashed as 8-byte little-endian longs)', () => {
  assert.equal(murmur3x86_32(longBytes(34n)), 2017239379);
  // date 2017-11-16 = 17486 days, hashed as a long
  assert.equal(murmur3x86_32(longBytes(17486n)), -653330422);
  // timestamp 2017-11-16T22:31:08 in micros
  assert.equal(murmur3x86_32(longBytes(1510871468000000n)), -2047944441);
  // time 22:31:08 in micros
  assert.equal(murmur3x86_32(longBytes(81068000000n)), -662762989);
});

test('murmur3 matches the spec vectors for string and binary', () => {
  assert.equal(murmur3x86_32(new TextEncoder().encode('iceberg')), 1210000089);
  assert.equal(murmur3x86_32(Uint8Array.of(0, 1, 2, 3)), -188683207);
  // uuid f79c3e09-677c-4bbd-a479-3f349cb785e7 as 16 big-endian bytes
  const uuid = Uint8Array.from(Buffer.from('f79c3e09677c4bbda4793f349cb785e7', 'hex'));
  assert.equal(murmur3x86_32(uuid), 1488055340);
  // decimal 14.20 = unscaled 1420 as minimal two's-complement big-endian bytes
  assert.equal(murmur3x86_32(Uint8Array.of(0x05, 0x8c)), -500754589);
});

test('murmur3 tail handling for every length mod 4 agrees between string and byte paths', () => {
  for (const s of ['', 'a', 'ab', 'abc', 'abcd', 'abcde', '0123456789abcdef0123456789abcdef']) {
    const h = murmur3x86_32(new TextEncoder().encode(s));
    assert.equal(bucketString(s, 2147483647), (h & 0x7fffffff) % 2147483647, s);
  }
  assert.equal(murmur3x86_32(new Uint8Array(0)), 0);
});

test('bucketString follows (hash & MAX_INT) % N, including non-ASCII strings', () => {
  assert.equal(bucketString('iceberg', 16), (1210000089 & 0x7fffffff) % 16);
  assert.equal(bucketString('iceberg', 16), 9);
  const s = 'héllo wörld ✓ 😀';
  const h = murmur3x86_32(new TextEncoder().encode(s));
  assert.equal(bucketString(s, 16), (h & 0x7fffffff) % 16);
  assert.equal(bucketString(s, 1000), (h & 0x7fffffff) % 1000);
});

test('day transform floors, including before the epoch', () => {
  assert.equal(dayFromMicros(0n), 0);
  assert.equal(dayFromMicros(86_399_999_999n), 0);
  assert.equal(dayFromMicros(86_400_000_000n), 1);
  assert.equal(dayFromMicros(-1n), -1);
  assert.equal(dayFromMicros(-86_400_000_000n), -1);
  assert.equal(dayFromMicros(-86_400_000_001n), -2);
  assert.equal(dayFromMicros(1510871468000000n), 17486); // 2017-11-16
  // beyond 2^53 micros the bigint path must agree with exact arithmetic
  const far = 86_400_000_000n * 200_000_000n + 5n;
  assert.equal(dayFromMicros(far), 200_000_000);
  assert.equal(dayFromMicros(-far), -200_000_001);
});

test('serializeBound uses Appendix D encodings and round-trips', () => {
  assert.deepEqual(serializeBound('int', 1), Uint8Array.of(1, 0, 0, 0));
  assert.deepEqual(serializeBound('int', -2), Uint8Array.of(0xfe, 0xff, 0xff, 0xff));
  assert.deepEqual(serializeBound('long', 1n), Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0));
  assert.deepEqual(serializeBound('timestamptz', 256), Uint8Array.of(0, 1, 0, 0, 0, 0, 0, 0));
  assert.deepEqual(serializeBound('string', 'aé'), Uint8Array.of(0x61, 0xc3, 0xa9));
  const big = 2n ** 63n - 1n;
  assert.equal(deserializeBound('long', serializeBound('long', big)), big);
  assert.equal(deserializeBound('long', serializeBound('long', -(2n ** 63n))), -(2n ** 63n));
  assert.equal(deserializeBound('int', serializeBound('int', -2147483648)), -2147483648);
  assert.equal(deserializeBound('string', serializeBound('string', 'ab12')), 'ab12');
  assert.throws(() => serializeBound('int', 2 ** 31), { code: 'TS_LAKE_TRANSFORM' });
  assert.throws(() => deserializeBound('long', new Uint8Array(4)), { code: 'TS_LAKE_TRANSFORM' });
});

test('bucketHexOfBytes is bucketString of the bytes as lowercase hex, for every length', () => {
  for (let n = 0; n <= 33; n++) {
    for (let k = 0; k < 20; k++) {
      const bytes = randomBytes(n + 3);
      for (const buckets of [16, 7, 2147483647]) {
        assert.equal(bucketHexOfBytes(bytes, 3, 3 + n, buckets), bucketString(bytes.subarray(3, 3 + n).toString('hex'), buckets), `${n} bytes`);
      }
    }
  }
});

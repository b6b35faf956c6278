import { test } from 'node:test';
import assert from 'node:assert/strict';
import { avroType } from '../../../../src/lake/iceberg/avro-container.ts';
import { parseJsonExact, UnsafeIntegerError } from '../../../../src/lake/iceberg/rest-json.ts';

const I64_MAX = '9223372036854775807';
const I64_MIN = '-9223372036854775808';
const ABOVE_2_53 = '9007199254740993';
const BELOW_MINUS_2_53 = '-9007199254740993';

const record = avroType(
  JSON.stringify({
    type: 'record',
    name: 'ids',
    fields: [
      { name: 'snapshot_id', type: 'long' },
      { name: 'parent_id', type: ['null', 'long'], default: null },
    ],
  }),
);

/** Avro's long encoding (zigzag varint), as another engine writes it. */
function avroLong(v: bigint): number[] {
  let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return out;
}

test('Avro longs beyond 2^53 round-trip exactly as decimal text, safe ones as numbers', () => {
  const cases = [
    { snapshot_id: 42, parent_id: null },
    { snapshot_id: I64_MAX, parent_id: I64_MIN },
    { snapshot_id: I64_MIN, parent_id: ABOVE_2_53 },
    { snapshot_id: BELOW_MINUS_2_53, parent_id: -7 },
    { snapshot_id: Number.MAX_SAFE_INTEGER, parent_id: Number.MIN_SAFE_INTEGER },
  ];
  for (const c of cases) assert.deepEqual({ ...record.fromBuffer(record.toBuffer(c)) }, c);
});

test('Avro longs written by another engine decode exactly', () => {
  // Union branch 1 is long.
  const bytes = Buffer.from([...avroLong(BigInt(I64_MAX)), ...avroLong(1n), ...avroLong(BigInt(BELOW_MINUS_2_53))]);
  assert.deepEqual({ ...record.fromBuffer(bytes) }, { snapshot_id: I64_MAX, parent_id: BELOW_MINUS_2_53 });
  assert.deepEqual([...record.toBuffer({ snapshot_id: I64_MAX, parent_id: BELOW_MINUS_2_53 })], [...bytes]);
});

test('a long that is neither a safe number nor decimal text is refused', () => {
  assert.throws(() => record.toBuffer({ snapshot_id: 2 ** 60, parent_id: null }));
  assert.throws(() => record.toBuffer({ snapshot_id: '12abc', parent_id: null }));
});

test('parseJsonExact refuses an unsafe integer by default, naming the field', () => {
  assert.throws(
    () => parseJsonExact(`{"snapshots":[{"snapshot-id":${I64_MAX}}]}`, 'metadata.json'),
    (e: unknown) => {
      assert.ok(e instanceof UnsafeIntegerError);
      assert.equal(e.field, 'snapshot-id');
      assert.equal(e.literal, I64_MAX);
      assert.match(e.message, /metadata\.json: snapshot-id = 9223372036854775807/);
      return true;
    },
  );
});

test('parseJsonExact with string keeps unsafe integers as their text; safe integers and floats stay numbers', () => {
  const text = `{"snapshot-id":${I64_MAX},"parent-snapshot-id":${BELOW_MINUS_2_53},"sequence-number":12,"ratio":1.5,"big":1e30,"huge":12345678901234567890.5}`;
  assert.deepEqual(parseJsonExact(text, 'metadata.json', 'string'), {
    'snapshot-id': I64_MAX,
    'parent-snapshot-id': BELOW_MINUS_2_53,
    'sequence-number': 12,
    ratio: 1.5,
    big: 1e30,
    huge: Number('12345678901234567890.5'), // a float, so the nearest double is the right answer
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaPositionError } from '../../../src/spool/kafka/errors.ts';
import { advanceOwned, formatPosition, mergePositions, parsePosition, type KafkaPosition } from '../../../src/spool/kafka/position.ts';

const pos = (offsets: Record<number, number>, topic = 'otel-traces-raw'): KafkaPosition => ({
  topic,
  offsets: new Map(Object.entries(offsets).map(([p, o]) => [Number(p), o])),
});
const plain = (p: KafkaPosition) => ({ topic: p.topic, offsets: Object.fromEntries(p.offsets) });

test('positions encode as JSON with partitions in ascending order, and decode back', () => {
  const p = pos({ 10: 7, 2: 1042, 0: 0, 1: 9_007_199_254_740_991 });
  const s = formatPosition(p);
  assert.equal(s, '{"topic":"otel-traces-raw","offsets":{"0":0,"1":9007199254740991,"2":1042,"10":7}}');
  assert.deepEqual(JSON.parse(s), { topic: 'otel-traces-raw', offsets: { 0: 0, 1: 9007199254740991, 2: 1042, 10: 7 } });
  assert.deepEqual(plain(parsePosition(s)), plain(p));
  // Equal positions are equal strings whatever order the map was built in.
  assert.equal(formatPosition(pos({ 1: 5, 0: 3 })), formatPosition(pos({ 0: 3, 1: 5 })));
  assert.equal(formatPosition(pos({})), '{"topic":"otel-traces-raw","offsets":{}}');
  const quoted = formatPosition(pos({ 0: 1 }, 'a.b_c-d'));
  assert.equal(parsePosition(quoted, 'a.b_c-d').topic, 'a.b_c-d');
});

test('malformed positions, other topics and local-spool positions are refused with a typed error', () => {
  const bad = [
    '00000000000000000003:00000000000001048576', // a local spool position
    '',
    '[]',
    'null',
    '{"offsets":{}}',
    '{"topic":"t"}',
    '{"topic":"t","offsets":[1]}',
    '{"topic":"t","offsets":{"-1":3}}',
    '{"topic":"t","offsets":{"01":3}}',
    '{"topic":"t","offsets":{"x":3}}',
    '{"topic":"t","offsets":{"2147483648":3}}',
    '{"topic":"t","offsets":{"0":-1}}',
    '{"topic":"t","offsets":{"0":1.5}}',
    '{"topic":"t","offsets":{"0":"12"}}',
    '{"topic":"t","offsets":{"0":9007199254740992}}',
  ];
  for (const s of bad) {
    assert.throws(() => parsePosition(s), (e: unknown) => e instanceof KafkaPositionError && e.code === 'TS_SPOOL_KAFKA_POSITION', s);
  }
  assert.throws(() => parsePosition('{"topic":"other","offsets":{"0":1}}', 'otel-traces-raw'), /belongs to Kafka topic "other"/);
  assert.equal(parsePosition('{"topic":"t","offsets":{"2147483647":3}}').offsets.get(2147483647), 3);
});

test('merging takes the larger offset per partition, in any order, and keeps partitions only one side has', () => {
  const a = pos({ 0: 10, 1: 5, 2: 7 });
  const b = pos({ 1: 9, 2: 3, 3: 1 });
  const c = pos({ 0: 12, 4: 2 });
  const expected = { topic: 'otel-traces-raw', offsets: { 0: 12, 1: 9, 2: 7, 3: 1, 4: 2 } };
  assert.deepEqual(plain(mergePositions(mergePositions(a, b), c)), expected);
  assert.deepEqual(plain(mergePositions(c, mergePositions(b, a))), expected, 'commutative and associative');
  assert.deepEqual(plain(mergePositions(a, a)), plain(a), 'idempotent');
  assert.throws(() => mergePositions(a, pos({ 0: 1 }, 'other')), KafkaPositionError);
});

test('a replica advances only the partitions it owns on top of the table position', () => {
  const table = pos({ 0: 100, 1: 200, 2: 300 });
  // Replica owns 1 and 3 now; it used to own 0 and still carries an older offset for it, and a newer one for 2 it must not push.
  const mine = pos({ 0: 90, 1: 250, 2: 999, 3: 40 });
  assert.deepEqual(plain(advanceOwned(table, mine, [1, 3])), { topic: 'otel-traces-raw', offsets: { 0: 100, 1: 250, 2: 300, 3: 40 } });
  // Owned but behind the table (another replica got further before the rebalance): the table's offset stands.
  assert.deepEqual(plain(advanceOwned(table, pos({ 1: 150 }), [1])), plain(table));
});

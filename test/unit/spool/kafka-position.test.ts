import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaPositionError } from '../../../src/spool/kafka/errors.ts';
import { commitRange, formatPosition, parsePosition, type KafkaPosition } from '../../../src/spool/kafka/position.ts';
import { SpoolPositionConflictError } from '../../../src/spool/spool.ts';

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

test('a commit moves only the partitions the batch read, on top of the table position', () => {
  const table = pos({ 0: 100, 1: 200, 2: 300 });
  // Read from an older view of the table (2 at 250 is stale), moving 1 and the new partition 3.
  const start = pos({ 0: 100, 1: 200, 2: 250 });
  const end = pos({ 0: 100, 1: 260, 2: 250, 3: 40 });
  assert.deepEqual(plain(commitRange(table, pos({ ...Object.fromEntries(start.offsets), 3: 0 }), end)), {
    topic: 'otel-traces-raw',
    offsets: { 0: 100, 1: 260, 2: 300, 3: 40 },
  });
  assert.deepEqual(plain(commitRange(null, null, pos({ 4: 9 }))), plain(pos({ 4: 9 })), 'first commit to an empty table');
  // Behind the table is fine: this reader moved past offsets without committing rows (control batches).
  assert.deepEqual(plain(commitRange(pos({ 0: 5 }), pos({ 0: 8 }), pos({ 0: 12 }))), plain(pos({ 0: 12 })));
});

test('a batch whose range another replica already committed is refused', () => {
  const refused = (e: unknown) => e instanceof SpoolPositionConflictError && e.code === 'TS_SPOOL_POSITION_CONFLICT';
  // The old owner of partition 1 committed up to 220 meanwhile; this batch started at 200.
  assert.throws(() => commitRange(pos({ 1: 220 }), pos({ 1: 200 }), pos({ 1: 260 })), refused);
  // Read from the group's offset (no start in the position) while the table knows the partition.
  assert.throws(() => commitRange(pos({ 1: 220 }), pos({}), pos({ 1: 260 })), refused);
  // A partition the batch did not move never conflicts, however far the table is.
  assert.deepEqual(plain(commitRange(pos({ 1: 999 }), pos({ 1: 200, 2: 0 }), pos({ 1: 200, 2: 5 }))), plain(pos({ 1: 999, 2: 5 })));
});

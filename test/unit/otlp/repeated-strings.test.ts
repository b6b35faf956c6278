import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LastHex, Names, RepeatedCells } from '../../../src/otlp/repeated-strings.ts';
import { WireError, WireReader } from '../../../src/otlp/wire-reader.ts';

/** Length-delimited fields, back to back, as a reader sees a message's strings. */
function fields(values: readonly (string | Uint8Array)[]): WireReader {
  const parts = values.map((v) => {
    const b = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v);
    assert.ok(b.length < 128);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return new WireReader(Buffer.concat(parts));
}

test('names: the string of its own bytes every time, however names repeat, collide or exceed the cache', () => {
  // Many names of one length (slot collisions), repeats, the empty name, one too long to remember, non-ASCII.
  const distinct = Array.from({ length: 600 }, (_, i) => `op-${String(i).padStart(4, '0')}`);
  const values = [...distinct, ...distinct.slice(0, 50), '', 'x'.repeat(100), 'x'.repeat(100), 'résumé', 'résumé', ...distinct.slice(100, 120).reverse()];
  const r = fields(values);
  const names = new Names();
  const end = r.buf.length;
  const got = values.map(() => names.read(r, end));
  assert.deepEqual(got, values);
  assert.equal(r.pos, end);
});

test('names: invalid UTF-8 throws even when the same length and slot held a valid name', () => {
  const r = fields(['ab', new Uint8Array([0xc3, 0x28])]);
  const names = new Names();
  assert.equal(names.read(r, r.buf.length), 'ab');
  assert.throws(() => names.read(r, r.buf.length), WireError);
});

test('ids: the hex of the bytes asked for, whether or not they repeat the last ones', () => {
  const buf = Buffer.from('0102030405060708' + '0102030405060708' + '0102030405060709' + '01020304050607080a0b0c0d0e0f1011', 'hex');
  const h = new LastHex();
  assert.equal(h.hexOf(buf, 0, 8), '0102030405060708');
  assert.equal(h.hexOf(buf, 8, 16), '0102030405060708');
  assert.equal(h.hexOf(buf, 16, 24), '0102030405060709');
  assert.equal(h.hexOf(buf, 24, 40), '01020304050607080a0b0c0d0e0f1011');
  assert.equal(h.hexOf(buf, 24, 32), '0102030405060708', 'a prefix of the last id is not that id');
  assert.equal(h.hexOf(buf, 0, 0), '');
});

test('cells: found only for the same bytes, among the last few remembered; longer ones are not kept', () => {
  const cells = new RepeatedCells();
  const buf = Buffer.from('aaaa' + 'aaab' + 'baaa' + 'aaaa');
  const a = Uint8Array.of(1);
  assert.equal(cells.find(buf, 0, 4), null);
  cells.remember(buf, 0, 4, a);
  assert.equal(cells.find(buf, 12, 16), a, 'same bytes elsewhere');
  assert.equal(cells.find(buf, 4, 8), null, 'last byte differs');
  assert.equal(cells.find(buf, 8, 12), null, 'first byte differs');
  assert.equal(cells.find(buf, 0, 3), null, 'a prefix');
  // Four more remembered push the first out.
  for (let k = 0; k < 4; k++) cells.remember(Buffer.from(`c${k}`), 0, 2, Uint8Array.of(k));
  assert.equal(cells.find(buf, 0, 4), null);
  assert.deepEqual(cells.find(Buffer.from('c3'), 0, 2), Uint8Array.of(3));
  const long = Buffer.alloc(2000, 7);
  cells.remember(long, 0, 2000, a);
  assert.equal(cells.find(long, 0, 2000), null);
});

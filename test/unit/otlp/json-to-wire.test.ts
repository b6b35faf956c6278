import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestsToColumns } from '../../../src/otlp/to-columns.ts';
import { columnsToRequest } from '../../../src/otlp/from-columns.ts';
import { eventsFromJson, keyValuesFromJson, linksFromJson } from '../../../src/otlp/json-to-proto.ts';
import { NotCanonical, writeSpanList } from '../../../src/otlp/json-to-wire.ts';
import { ProtoWriter } from '../../../src/otlp/wire-writer.ts';
import { opentelemetry } from '../../../src/otlp/gen/otlp.js';
import { encodeRequest, hex, i64, richRequest, u64 } from '../../fixtures/otlp/requests.ts';
import { cellText } from '../../support/json-cells.ts';

const { Span } = opentelemetry.proto.trace.v1;
type AnyValueProps = opentelemetry.proto.common.v1.AnyValue.$Properties;
type KeyValueProps = opentelemetry.proto.common.v1.KeyValue.$Properties;
type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;

const TAGS = { attributes: 0x4a, events: 0x5a, links: 0x6a } as const;
type Column = keyof typeof TAGS;

/** What the general path makes of a cell: JSON.parse, json-to-proto, protobufjs (a span holding only that list). */
function general(text: string, column: Column): Buffer {
  const parsed = JSON.parse(text) as unknown;
  const span: SpanProps =
    column === 'attributes' ? { attributes: keyValuesFromJson(parsed, 'a') } : column === 'events' ? { events: eventsFromJson(parsed, 'e') } : { links: linksFromJson(parsed, 'l') };
  return Buffer.from(Span.encode(span).finish());
}

function transcoded(text: string, column: Column): Buffer {
  const w = new ProtoWriter();
  writeSpanList(w, Buffer.from(text), column, TAGS[column]);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

function cellsOf(payload: Uint8Array): { text: string; column: Column }[] {
  const cols = requestsToColumns([payload]);
  const out: { text: string; column: Column }[] = [];
  for (let i = 0; i < cols.length; i++) {
    for (const column of ['attributes', 'events', 'links'] as const) out.push({ text: cellText(cols[column][i]!), column });
  }
  return out;
}

test('canonical cells transcode to the bytes the general path writes', () => {
  const cells = cellsOf(encodeRequest(richRequest()));
  assert.ok(cells.some((c) => c.column === 'links' && c.text !== '[]'), 'the rich request has links');
  for (const { text, column } of cells) {
    if (text === '[]') continue;
    assert.deepStrictEqual(transcoded(text, column), general(text, column), `${column} ${text}`);
  }
});

test('escapes, non-ASCII text, and bodies whose lengths need two or three varint bytes', () => {
  const long = 'x'.repeat(200);
  const huge = 'é'.repeat(9000);
  const text = JSON.stringify([
    { key: 'esc', value: { stringValue: 'q" b\\ s/ \b\f\n\r\t \u0001 \u001f' } },
    { key: 'unicode', value: { stringValue: 'hé ✓ 😀' } },
    { key: long, value: { stringValue: long } },
    { key: 'huge', value: { arrayValue: { values: [{ stringValue: huge }, { kvlistValue: { values: [{ key: 'k', value: { stringValue: long } }] } }] } } },
  ]);
  assert.deepStrictEqual(transcoded(text, 'attributes'), general(text, 'attributes'));
  // Escapes the canonical writer never uses are still JSON: \u escapes, a surrogate pair, an escaped slash.
  const escaped = '[{"key":"\\u0068\\u00e9\\u2713\\ud83d\\ude00\\/","value":{"stringValue":"\\u0000"}}]';
  assert.deepStrictEqual(transcoded(escaped, 'attributes'), general(escaped, 'attributes'));
});

test('text outside the canonical form throws NotCanonical', () => {
  const cases = [
    '[ {"key":"a"}]', // whitespace
    '[{"key":"a","value":{"string_value":"x"}}]', // proto field name
    '[{"key":"a","value":{"intValue":5}}]', // int64 as a number
    '[{"key":"a","value":{"intValue":"05"}}]', // leading zero
    '[{"key":"a","value":{"intValue":"9223372036854775808"}}]', // out of range
    '[{"key":"a","value":{"stringValue":"x","boolValue":true}}]', // two members
    '[{"key":"a","value":{"doubleValue":1.}}]', // not a JSON number
    '[{"key":"a","value":{"stringValue":"\\ud800"}}]', // lone surrogate
    '[{"key":"a","value":{"bytesValue":"a-b_"}}]', // base64url
    '[{"key":"a","keyStrindex":3}]', // a member this path does not write
    '[{"key":"a"}]x', // trailing text
    '[{"key":"a"}', // truncated
    '[{"value":{},"key":"a"}]', // member order
  ];
  for (const text of cases) assert.throws(() => transcoded(text, 'attributes'), NotCanonical, text);
  assert.throws(() => transcoded('[{"name":"n","timeUnixNano":"1"}]', 'events'), NotCanonical);
  assert.throws(() => transcoded('[{"traceId":"abc"}]', 'links'), NotCanonical);
});

/** A random AnyValue, nested up to `depth`. */
function randomValue(rand: () => number, depth: number): AnyValueProps {
  const pick = Math.floor(rand() * (depth > 0 ? 9 : 7));
  const str = (): string => ['', 'a', 'ünï ✓', 'q"\\\n', 'x'.repeat(Math.floor(rand() * 300)), '😀'][Math.floor(rand() * 6)]!;
  switch (pick) {
    case 0:
      return { stringValue: str() };
    case 1:
      return { boolValue: rand() < 0.5 };
    case 2:
      return { intValue: i64(String(BigInt.asIntN(64, BigInt(Math.floor(rand() * 2 ** 53)) * BigInt(Math.floor(rand() * 2 ** 20) - 2 ** 19)))) };
    case 3:
      return { doubleValue: [0.1, -0, 1e21, 5e-324, NaN, -Infinity, rand() * 1e6 - 5e5][Math.floor(rand() * 7)]! };
    case 4:
      return { bytesValue: Uint8Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)) };
    case 5:
      return {};
    case 6:
      return { stringValue: str() };
    case 7:
      return { arrayValue: { values: Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth - 1)) } };
    default:
      return { kvlistValue: { values: randomAttributes(rand, depth - 1) } };
  }
}

function randomAttributes(rand: () => number, depth: number): KeyValueProps[] {
  return Array.from({ length: Math.floor(rand() * 5) }, (_, i) => (rand() < 0.1 ? { key: `k${i}` } : { key: rand() < 0.05 ? '' : `key.${i}`, value: randomValue(rand, depth) }));
}

test('random spans: protobuf → columns → protobuf is byte-identical, from the codec\'s bytes and from a reader\'s strings', () => {
  let seed = 7;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const spans: SpanProps[] = Array.from({ length: 300 }, (_, i) => ({
    traceId: hex('0af7651916cd43dd8448eb211c80319c'),
    spanId: hex((i + 1).toString(16).padStart(16, '0')),
    parentSpanId: rand() < 0.5 ? hex('b7ad6b7169203331') : undefined,
    traceState: rand() < 0.2 ? 'a=b' : undefined,
    name: rand() < 0.9 ? `op ${i}` : undefined,
    kind: Math.floor(rand() * 6),
    startTimeUnixNano: u64(String(1700000000000000000n + BigInt(i))),
    endTimeUnixNano: rand() < 0.9 ? u64(String(1700000000000000000n + BigInt(i) * 7n)) : undefined,
    attributes: randomAttributes(rand, 3),
    droppedAttributesCount: rand() < 0.2 ? Math.floor(rand() * 2 ** 32) : undefined,
    events: rand() < 0.3 ? [{ timeUnixNano: rand() < 0.5 ? u64('18446744073709551615') : undefined, name: 'e', attributes: randomAttributes(rand, 2), droppedAttributesCount: 1 }] : undefined,
    links:
      rand() < 0.3
        ? [{ traceId: hex('5b8efff798038103d269b633813fc60c'), spanId: hex('eee19b7ec3c1b174'), traceState: 'k=v', attributes: randomAttributes(rand, 1), flags: rand() < 0.5 ? 0x80000101 : undefined }]
        : undefined,
    droppedLinksCount: rand() < 0.1 ? 3 : undefined,
    // An empty status is not kept apart from none (the columns hold code and message).
    status: rand() < 0.3 ? (rand() < 0.5 ? { code: 1 + Math.floor(rand() * 2) } : { code: Math.floor(rand() * 3), message: 'bad ✗' }) : undefined,
    flags: rand() < 0.5 ? 0x301 : undefined,
  }));
  const original = encodeRequest({ resourceSpans: [{ resource: {}, scopeSpans: [{ scope: { name: 's' }, spans }] }] });
  const cols = requestsToColumns([original]);
  assert.deepStrictEqual(Buffer.from(columnsToRequest(cols)), Buffer.from(original));
  const asText = { ...cols, attributes: Array.from(cols.attributes, cellText), events: Array.from(cols.events, cellText), links: Array.from(cols.links, cellText) };
  assert.deepStrictEqual(Buffer.from(columnsToRequest(asText)), Buffer.from(original));
});

test('a span whose cells are not canonical goes the general way, to the same bytes', () => {
  const original = encodeRequest(richRequest());
  const cols = requestsToColumns([original]);
  // The same values as other JSON writers may spell them: whitespace, proto field names, int64 as numbers.
  const respell = (t: string): string => t.replaceAll(',{', ', {').replaceAll('"stringValue"', '"string_value"').replace(/"intValue":"(\d{1,15})"/g, '"intValue":$1');
  const texts = { ...cols, attributes: Array.from(cols.attributes, (c) => respell(cellText(c))), events: Array.from(cols.events, (c) => respell(cellText(c))) };
  assert.ok(texts.attributes[0]!.includes('"string_value"'));
  assert.deepStrictEqual(Buffer.from(columnsToRequest(texts)), Buffer.from(original));
});

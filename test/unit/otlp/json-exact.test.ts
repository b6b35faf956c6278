import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exactInteger, markedNumber, parseJsonLossless } from '../../../src/otlp/json-numbers.ts';
import { requestsToColumns } from '../../../src/otlp/to-columns.ts';
import { validateJsonRequest } from '../../../src/otlp/validate.ts';
import { ExportTraceServiceRequest } from '../../fixtures/otlp/requests.ts';
import { cellText } from '../../support/json-cells.ts';

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

/** A one-span request whose span members are given as raw JSON text (so numbers stay as written). */
const body = (members: string): string =>
  `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${TRACE}","spanId":"${SPAN}"${members ? ',' + members : ''}}]}]}]}`;
const attr = (valueJson: string): string => body(`"attributes":[{"key":"a","value":${valueJson}}]`);
const columns = (text: string) => requestsToColumns([validateJsonRequest(text).payload]);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

test('64-bit times given as JSON numbers keep every digit, in the table columns and in the protobuf', () => {
  for (const form of ['1764620000123456789', '"1764620000123456789"']) {
    const text = body(`"startTimeUnixNano":${form},"endTimeUnixNano":${form.replace('789', '999')}`);
    const v = validateJsonRequest(text);
    const cols = requestsToColumns([v.payload]);
    assert.equal(cols.start_time_unix_nano[0], 1764620000123456789n, form);
    assert.equal(cols.end_time_unix_nano[0], 1764620000123456999n, form);
    assert.equal(cols.duration[0], 210n, 'the duration a latency policy sees');
    assert.equal(cols.timestamp[0], 1764620000123456n);
    const span = ExportTraceServiceRequest.decode(v.payload).resourceSpans[0]!.scopeSpans![0]!.spans![0]!;
    assert.equal(span.startTimeUnixNano!.toString(), '1764620000123456789');
  }
  // Through a double this would have been ...456768 (JSON.parse's value).
  assert.notEqual(Number('1764620000123456789').toString(), '1764620000123456789');
});

test('uint64 extremes for times and event times, as numbers and strings', () => {
  for (const [text, expected] of [
    ['18446744073709551615', 18446744073709551615n],
    ['"18446744073709551615"', 18446744073709551615n],
    ['9007199254740993', 9007199254740993n],
    ['0', 0n],
    ['"0"', 0n],
    ['1', 1n],
  ] as const) {
    const cols = columns(body(`"startTimeUnixNano":${text},"events":[{"timeUnixNano":${text},"name":"e"}]`));
    assert.equal(u64(cols.start_time_unix_nano[0]!), expected, text);
    const events = JSON.parse(cellText(cols.events[0]!)) as { timeUnixNano?: string }[];
    assert.equal(events[0]!.timeUnixNano ?? '0', expected.toString(), text);
  }
});

test('intValue: int64 min/max, negatives and zero, as numbers and strings', () => {
  for (const v of ['9223372036854775807', '-9223372036854775808', '-1', '0', '-9007199254740993', '123456789012345678']) {
    for (const form of [v, `"${v}"`]) {
      const cols = columns(attr(`{"intValue":${form}}`));
      assert.equal(cellText(cols.attributes[0]!), `[{"key":"a","value":{"intValue":"${v}"}}]`, form);
    }
  }
});

test('integral fraction/exponent forms are accepted, as protobuf Go/Java JSON parsers do', () => {
  const cases: [string, string][] = [
    ['1e3', '1000'],
    ['"1e3"', '1000'],
    ['1.5e1', '15'],
    ['100e-2', '1'],
    ['1.0', '1'],
    ['-2E+2', '-200'],
    ['9.223372036854775807e18', '9223372036854775807'],
    ['-9223372036854775.808e3', '-9223372036854775808'],
    ['0e999999999', '0'],
    ['"007"', '7'],
  ];
  for (const [form, expected] of cases) {
    assert.equal(cellText(columns(attr(`{"intValue":${form}}`)).attributes[0]!), `[{"key":"a","value":{"intValue":"${expected}"}}]`, form);
  }
  const cols = columns(body('"kind":2.0,"flags":2.57e2,"droppedAttributesCount":1e1,"status":{"code":2e0},"startTimeUnixNano":1.764620000123456789e18'));
  assert.equal(cols.span_kind[0], 2);
  assert.equal(cols.flags[0], 257n);
  assert.equal(cols.dropped_attributes_count[0], 10);
  assert.equal(cols.status_code[0], 2);
  assert.equal(cols.start_time_unix_nano[0], 1764620000123456789n);
});

test('non-integral, out-of-range and malformed integers → TS_RECEIVER_INVALID_REQUEST naming the field path', () => {
  const path = 'resourceSpans[0].scopeSpans[0].spans[0]';
  const cases: [string, RegExp][] = [
    [attr('{"intValue":1.5}'), /attributes\[0\]\.value\.intValue: .*1\.5, which is not integral/],
    [attr('{"intValue":"1.5"}'), /intValue: .*not integral/],
    [attr('{"intValue":1e-1}'), /intValue: .*not integral/],
    [attr('{"intValue":1.0000000000000000001}'), /intValue: .*not integral/],
    [attr('{"intValue":9223372036854775808}'), /intValue: 9223372036854775808 is out of range for int64/],
    [attr('{"intValue":-9223372036854775809}'), /intValue: -9223372036854775809 is out of range for int64/],
    [attr('{"intValue":"12abc"}'), /intValue: expected an integer \(int64\), got "12abc"/],
    [attr('{"intValue":" 1"}'), /intValue: expected an integer/],
    [attr('{"intValue":true}'), /intValue: expected an integer/],
    [attr('{"intValue":1e400}'), /intValue: 1e400 is out of range for int64/],
    [attr('{"intValue":"1e99999999999999999999"}'), /out of range for int64/],
    [body('"startTimeUnixNano":18446744073709551616'), /startTimeUnixNano: 18446744073709551616 is out of range for uint64/],
    [body('"startTimeUnixNano":-1'), /startTimeUnixNano: -1 is out of range for uint64/],
    [body('"endTimeUnixNano":"-5"'), /endTimeUnixNano: -5 is out of range for uint64/],
    [body('"events":[{"timeUnixNano":1.5}]'), /events\[0\]\.timeUnixNano: .*not integral/],
    [body('"droppedAttributesCount":4294967296'), /droppedAttributesCount: 4294967296 is out of range for uint32/],
    [body('"droppedEventsCount":-1'), /droppedEventsCount: -1 is out of range for uint32/],
    [body('"flags":4.5'), /flags: .*not integral/],
    [body('"kind":2147483648'), /kind: 2147483648 is out of range for int32/],
    [body('"name":12345678901234567890'), /name: expected a string/],
    [body('"name":1.5'), /name: expected a string/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => validateJsonRequest(text), (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'TS_RECEIVER_INVALID_REQUEST', text);
      assert.match((e as Error).message, message, text);
      assert.ok((e as Error).message.startsWith(path) || (e as Error).message.includes('.attributes'), (e as Error).message);
      return true;
    });
  }
});

test('doubles keep JSON number semantics; numbers inside strings are never touched', () => {
  const cols = columns(body(
    '"name":"order:12345678901234567890 \\":1.5 x","attributes":[' +
      '{"key":"d","value":{"doubleValue":0.1}},' +
      '{"key":"big","value":{"doubleValue":12345678901234567890}},' +
      '{"key":"exp","value":{"doubleValue":1e400}},' +
      '{"key":"s","value":{"doubleValue":"2.5"}},' +
      '{"key":"snake","value":{"double_value":1.25}}]',
  ));
  assert.equal(cols.operation_name[0], 'order:12345678901234567890 ":1.5 x');
  assert.equal(
    cellText(cols.attributes[0]!),
    '[{"key":"d","value":{"doubleValue":0.1}},{"key":"big","value":{"doubleValue":12345678901234567000}},' +
      '{"key":"exp","value":{"doubleValue":"Infinity"}},{"key":"s","value":{"doubleValue":2.5}},{"key":"snake","value":{"doubleValue":1.25}}]',
  );
});

test('parseJsonLossless: untouched text parses as JSON.parse does; unsafe tokens come back with their source', () => {
  const plain = '{"a":[1,-2,{"doubleValue":3.5e1}],"doubleValue":1.5,"s":"12345678901234567890","n":123456789012345}';
  assert.deepEqual(parseJsonLossless(plain), JSON.parse(plain));
  const parsed = parseJsonLossless('{"t":1764620000123456789,"f":1.5,"e" : -1E3,"doubleValue":1.5,"x":"\\\\","y":[12345678901234567]}') as Record<string, unknown>;
  assert.equal(markedNumber(parsed.t), '1764620000123456789');
  assert.equal(markedNumber(parsed.f), '1.5');
  assert.equal(markedNumber(parsed.e), '-1E3');
  assert.equal(parsed.doubleValue, 1.5);
  assert.equal(parsed.x, '\\');
  assert.equal(markedNumber((parsed.y as unknown[])[0]), '12345678901234567');
  assert.equal(markedNumber('12'), null);
  // A string that starts like a marked number is refused rather than misread, marking needed or not.
  assert.throws(() => parseJsonLossless('{"a":"\\udfff\\uDFFF1","t":1764620000123456789}'), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  assert.throws(() => validateJsonRequest(attr('{"intValue":"\\udfff\\udfff5"}')), { code: 'TS_RECEIVER_INVALID_REQUEST' });
  // Malformed JSON is still reported by JSON.parse.
  assert.throws(() => validateJsonRequest('{"t":1764620000123456789'), /not JSON/);
});

test('exactInteger decides on the decimal text, never through a double', () => {
  assert.equal(exactInteger('18446744073709551615'), 18446744073709551615n);
  assert.equal(exactInteger('-0'), -0);
  assert.equal(exactInteger('1e19'), 10n ** 19n);
  assert.equal(exactInteger('1e20'), 'range', '21 digits: no 64-bit integer');
  assert.equal(exactInteger('123456789012345678901'), 'range');
  assert.equal(exactInteger('1e-99999999999'), 'fraction');
  assert.equal(exactInteger('0.5'), 'fraction');
  assert.equal(exactInteger('1.'), null);
  assert.equal(exactInteger('+1'), null);
  assert.equal(exactInteger('0x10'), null);
  assert.equal(exactInteger(''), null);
});

test('a double given as a string must be a JSON number (or NaN / ±Infinity): no hex, blanks or plus sign', () => {
  for (const bad of ['"0x10"', '" 1 "', '"+1"', '"1."', '".5"', '""', '"1e"']) {
    assert.throws(() => validateJsonRequest(attr(`{"doubleValue":${bad}}`)), /doubleValue: expected a number/, bad);
  }
  for (const good of ['"-0.5"', '"1e3"', '"2.5E-3"', '"NaN"', '"-Infinity"']) validateJsonRequest(attr(`{"doubleValue":${good}}`));
});

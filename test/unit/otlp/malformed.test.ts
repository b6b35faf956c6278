import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateProtobufRequest } from '../../../src/otlp/validate.ts';
import { requestsToColumns } from '../../../src/otlp/to-columns.ts';
import { encodeRequest, richRequest } from '../../fixtures/otlp/requests.ts';
import { MALFORMED } from '../../fixtures/otlp/malformed.ts';

const rich = encodeRequest(richRequest());

test('malformed protobuf is refused with TS_RECEIVER_INVALID_REQUEST', () => {
  for (const [name, bytes] of MALFORMED) {
    assert.throws(() => validateProtobufRequest(bytes), { code: 'TS_RECEIVER_INVALID_REQUEST' }, name);
  }
});

test('unknown fields are skipped, at every level', () => {
  // request { resource_spans { scope_spans { span { trace_id, span_id, field 99 varint } field 50 } } field 7 string }
  const span = Buffer.concat([
    Buffer.from([0x0a, 16]), Buffer.alloc(16, 1), Buffer.from([0x12, 8]), Buffer.alloc(8, 2), Buffer.from([0x98, 0x06, 0x05]),
  ]);
  const ss = Buffer.concat([Buffer.from([0x12, span.length]), span, Buffer.from([0x90, 0x03, 0x01])]);
  const rs = Buffer.concat([Buffer.from([0x12, ss.length]), ss]);
  const req = Buffer.concat([Buffer.from([0x0a, rs.length]), rs, Buffer.from([0x3a, 0x01, 0x41])]);
  const v = validateProtobufRequest(req);
  assert.equal(v.accepted, 1);
  const cols = requestsToColumns([v.payload]);
  assert.equal(cols.trace_id[0], '01'.repeat(16));
});

test('a corrupt spool payload raises TS_OTLP_CORRUPT_PAYLOAD', () => {
  assert.throws(() => requestsToColumns([rich, rich.subarray(0, 40)]), { code: 'TS_OTLP_CORRUPT_PAYLOAD' });
});

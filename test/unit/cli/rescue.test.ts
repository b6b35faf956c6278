import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attrArg, rescueBody, timeArg } from '../../../src/cli/rescue.ts';

const NOW = Date.parse('2026-12-02T12:00:00Z');
const ID = 'ab'.repeat(16);

test('trace ids become trace_ids; query options a query; mixing them or --limit with ids is a usage error', () => {
  assert.deepEqual(rescueBody([ID, '--reason', 'r'], NOW), { trace_ids: [ID], reason: 'r' });
  assert.deepEqual(rescueBody(['--service', 's', '--from', '2h', '--to', '2026-12-02T11:30:00Z', '--errors', '--attr', 'k=v', '--attr', 'e', '--limit', '5'], NOW), {
    query: { error_only: true, service: 's', from: '2026-12-02T10:00:00.000Z', to: '2026-12-02T11:30:00Z', attributes: [{ key: 'k', op: 'eq', value: 'v' }, { key: 'e', op: 'exists' }] },
    limit: 5,
  });
  assert.throws(() => rescueBody([ID, '--service', 's'], NOW), /not both/);
  assert.throws(() => rescueBody([ID, '--limit', '3'], NOW), /--limit goes with a query/);
  assert.throws(() => rescueBody([], NOW), /give trace ids or query options/);
  assert.throws(() => rescueBody(['--errors', '--limit', 'x'], NOW), /positive whole number/);
});

test('attribute conditions and ages', () => {
  assert.deepEqual(attrArg('a!=b'), { key: 'a', op: 'neq', value: 'b' });
  assert.deepEqual(attrArg('a~=^x=y'), { key: 'a', op: 'regex', value: '^x=y' });
  assert.deepEqual(attrArg('url=http://x?a=b'), { key: 'url', op: 'eq', value: 'http://x?a=b' });
  assert.equal(timeArg('90s', NOW), '2026-12-02T11:58:30.000Z');
  assert.equal(timeArg('1d', NOW), '2026-12-01T12:00:00.000Z');
  assert.equal(timeArg('2026-12-01T00:00:00Z', NOW), '2026-12-01T00:00:00Z');
});

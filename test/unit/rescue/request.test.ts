import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rescueSchema } from '../../../src/rescue/config.ts';
import { DEFAULT_RANGE_MS, parseRescueRequest, RescueInvalidError, type RescueIssue } from '../../../src/rescue/request.ts';

const config = rescueSchema.parse({ max_traces: 3, default_limit: 2 });
const NOW = Date.parse('2026-12-02T12:00:00Z');
const ID = 'AB'.repeat(16);

function issues(body: unknown): RescueIssue[] {
  try {
    parseRescueRequest(body, config, NOW);
  } catch (e) {
    assert.ok(e instanceof RescueInvalidError);
    assert.equal(e.code, 'TS_RESCUE_INVALID');
    return e.issues;
  }
  assert.fail('accepted');
}

test('trace ids are checked one by one, each problem at its index; good ones are lower-cased and deduplicated', () => {
  assert.deepEqual(issues({ trace_ids: [ID, 'xyz', '0'.repeat(32)] }), [
    { path: 'trace_ids[1]', message: 'must be a trace id: 32 hex characters' },
    { path: 'trace_ids[2]', message: 'the all-zero trace id is invalid' },
  ]);
  assert.deepEqual(parseRescueRequest({ trace_ids: [ID, ID.toLowerCase()], reason: 'why' }, config, NOW), { kind: 'ids', traceIds: [ID.toLowerCase()], reason: 'why' });
  assert.equal(issues({ trace_ids: [ID, ID, ID, ID] })[0]!.path, 'trace_ids', 'at most rescue.max_traces ids');
  assert.deepEqual(issues({ trace_ids: [ID], limit: 2 }), [{ path: 'limit', message: 'limit goes with a query; trace_ids rescue every id given' }]);
});

test('exactly one of trace_ids and query; unknown keys are refused with their path', () => {
  assert.deepEqual(issues({}), [{ path: '', message: 'give either trace_ids or query (one of them)' }]);
  assert.deepEqual(issues({ trace_ids: [ID], query: {} }), [{ path: '', message: 'give either trace_ids or query (one of them)' }]);
  assert.equal(issues(undefined)[0]!.path, '');
  assert.deepEqual(issues({ query: { services: 'x' } }).map((i) => i.path), ['query']);
});

test('a query: default range and limit, conditions checked at their paths', () => {
  assert.deepEqual(parseRescueRequest({ query: {} }, config, NOW), {
    kind: 'query',
    query: { service: null, fromMs: NOW - DEFAULT_RANGE_MS, toMs: NOW, errorOnly: false, attributes: [] },
    limit: 2,
    reason: null,
  });
  assert.deepEqual(
    issues({
      query: {
        from: '2026-12-02T13:00:00Z',
        to: '2026-12-02T12:00:00Z',
        attributes: [{ key: 'a', op: 'eq' }, { key: 'b', op: 'exists', value: 'x' }, { key: 'c', op: 'regex', value: '(' }],
      },
    }).map((i) => i.path),
    ['query.from', 'query.attributes[0].value', 'query.attributes[1].value', 'query.attributes[2].value'],
  );
  assert.deepEqual(issues({ query: { from: 'yesterday' } }).map((i) => i.path), ['query.from']);
  assert.deepEqual(issues({ query: {}, limit: 4 }).map((i) => i.path), ['limit'], 'a limit above rescue.max_traces');
  const q = parseRescueRequest({ query: { service: 's', error_only: true, attributes: [{ key: 'k', value: 'v' }, { key: 'e', op: 'exists' }] }, limit: 3 }, config, NOW);
  assert.deepEqual(q.kind === 'query' && [q.query.attributes, q.limit], [[{ key: 'k', op: 'eq', value: 'v' }, { key: 'e', op: 'exists', value: null }], 3]);
});

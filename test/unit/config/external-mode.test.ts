import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/load.ts';
import { configIssues } from '../../support/config.ts';


test('storage.materializer defaults to internal with no column mapping', () => {
  const c = parseConfig('', 'inline', {});
  assert.equal(c.storage.materializer, 'internal');
  assert.deepEqual(c.storage.external.columns, {});
});

test('external mode on the local spool is refused at spool.type', () => {
  const issues = configIssues('storage: { materializer: external }');
  assert.deepEqual(Object.keys(issues), ['spool.type']);
  assert.match(issues['spool.type']!, /spool\.type kafka/);
});

test('external mode on kafka without a schema registry is refused at spool.kafka.schema_registry', () => {
  const issues = configIssues('storage: { materializer: external }\nspool: { type: kafka }');
  assert.deepEqual(Object.keys(issues), ['spool.kafka.schema_registry']);
  assert.match(issues['spool.kafka.schema_registry']!, /schema registry/);
});

test('external mode on kafka with a registered schema id and a column mapping is valid', () => {
  const c = parseConfig(
    `
storage:
  materializer: external
  external:
    columns: { operation_name: name, service_name: svc }
spool:
  type: kafka
  kafka: { schema_registry: { schema_id: 3 } }
`,
    'inline',
    {},
  );
  assert.equal(c.storage.materializer, 'external');
  assert.deepEqual(c.storage.external.columns, { operation_name: 'name', service_name: 'svc' });
  assert.equal(c.spool.type, 'kafka');
  assert.equal(c.spool.kafka.schema_registry?.schema_id, 3);
});

test('a mapping for a column the span table does not have is refused with its path', () => {
  const issues = configIssues(`
storage:
  materializer: external
  external: { columns: { operation_name: name, span_name: name } }
spool: { type: kafka, kafka: { schema_registry: { schema_id: 3 } } }
`);
  assert.deepEqual(Object.keys(issues), ['storage.external.columns']);
  assert.match(issues['storage.external.columns']!, /span_name/);
});

test('an empty external column name is refused', () => {
  const issues = configIssues(`
storage: { materializer: external, external: { columns: { operation_name: "" } } }
spool: { type: kafka, kafka: { schema_registry: { schema_id: 3 } } }
`);
  assert.ok('storage.external.columns.operation_name' in issues, Object.keys(issues).join(', '));
});

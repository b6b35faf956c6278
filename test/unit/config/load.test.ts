import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseConfig } from '../../../src/config/load.ts';
import { ConfigInterpolationError, interpolate } from '../../../src/config/interpolate.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url));

test('no file means the embedded defaults', async () => {
  const c = await loadConfig(undefined, {});
  assert.equal(c.spool.type, 'local');
  assert.equal(c.storage.catalog.type, 'sql');
  assert.equal(c.receivers.otlp.grpc?.endpoint, '0.0.0.0:4317');
  assert.deepEqual(c.exporters, [{ id: 'debug', type: 'debug', config: { verbosity: 'basic' } }], 'kept traces are printed by the debug exporter');
  assert.equal(c.query.inactivity_threshold_secs, 60);
  assert.equal(c.query.spill_idle_secs, 30, 'idle summaries spill by default; they only do with waits over 60 s');
});

test('query.spill_idle_secs: 0 keeps summaries in memory; a negative value is refused with its path', () => {
  assert.equal(parseConfig('query: { spill_idle_secs: 0 }', 'inline').query.spill_idle_secs, 0);
  assert.throws(() => parseConfig('query: { spill_idle_secs: -1 }', 'inline'), (e: unknown) => e instanceof ConfigError && e.message.includes('query.spill_idle_secs'));
});

test('the full contract file loads, with ${VAR}, ${VAR:-default} and $$', async () => {
  const c = await loadConfig(fixture('full.yaml'), { DATA_DIR: '/var/lib/ts', COMMIT_SECS: '3' });
  assert.equal(c.receivers.otlp.grpc?.endpoint, '127.0.0.1:14317');
  assert.equal(c.spool.local.dir, '/var/lib/ts/spool');
  assert.equal(c.storage.commit_interval_secs, 3);
  const otlp = c.exporters.find((e) => e.id === 'otlp');
  assert.equal(otlp?.type === 'otlp' && otlp.config.headers.authorization, 'Bearer ${NOT_A_VAR}');
});

test('every problem is reported with its path', async () => {
  await assert.rejects(loadConfig(fixture('invalid.yaml'), {}), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.code, 'TS_CONFIG_INVALID');
    const paths = e.issues.map((i) => i.path);
    for (const p of ['receivers.otlp.grpc.endpoint', 'storage.commit_interval_secs', 'storage', 'query.batch_size']) {
      assert.ok(paths.includes(p), `missing ${p} in ${paths.join(', ')}`);
    }
    assert.match(e.message, /surprise/);
    return true;
  });
});

test('an exporter pointed at our own receiver is refused', () => {
  assert.throws(() => parseConfig('exporters: { otlp: { endpoint: "http://localhost:4318" } }', 'inline', {}), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.issues[0]!.path, 'exporters.otlp.endpoint');
    return true;
  });
});

test('YAML syntax errors and unset variables are clear errors', () => {
  assert.throws(() => parseConfig('receivers: [\n', 'bad.yaml', {}), ConfigError);
  assert.throws(() => interpolate({ a: { b: '${MISSING}' } }, {}), (e: unknown) => {
    assert.ok(e instanceof ConfigInterpolationError);
    assert.match(e.message, /a\.b: environment variable MISSING/);
    return true;
  });
  assert.deepEqual(interpolate({ n: '${N}', s: 'x${N}y', d: '${E:-}' }, { N: '5' }), { n: 5, s: 'x5y', d: '' });
});

test('a missing file says which', async () => {
  await assert.rejects(loadConfig('/nonexistent/tailsampler.yaml', {}), /cannot read config file \/nonexistent/);
});

test('exporters are named type or type/name, each checked by its own type with its id in the path', () => {
  const c = parseConfig(
    'exporters: { otlp: { endpoint: "http://a:4318" }, otlp/backup: { endpoint: "http://b:4317", protocol: grpc }, debug: null, debug/x: {} }',
    'inline',
    {},
  );
  assert.deepEqual(c.exporters.map((e) => `${e.type} ${e.id}`), ['otlp otlp', 'otlp otlp/backup', 'debug debug/x'], 'null switches one off');
  const backup = c.exporters[1]!;
  assert.equal(backup.type === 'otlp' && backup.config.protocol, 'grpc');
  assert.equal(backup.type === 'otlp' && backup.config.sending_queue.max_backlog_traces, 1_000_000);
  assert.throws(
    () => parseConfig('exporters: { otlp/b: { endpoint: 5, sending_queue: { num_consumers: 0 } }, kafka: {}, otlp/: {} }', 'inline', {}),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const paths = e.issues.map((i) => i.path);
      for (const p of ['exporters.otlp/b.endpoint', 'exporters.otlp/b.sending_queue.num_consumers', 'exporters.kafka', 'exporters.otlp/']) {
        assert.ok(paths.includes(p), `missing ${p} in ${paths.join(', ')}`);
      }
      return true;
    },
  );
  assert.throws(() => parseConfig('exporters: {}', 'inline', {}), /at least one exporter/);
  assert.throws(() => parseConfig('exporters: { otlp/self: { endpoint: "http://127.0.0.1:4318" } }', 'inline', {}), /exporters\.otlp\/self\.endpoint: points at this service/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

/** The Datadog API key and exporter headers never reach a log line, however the config is logged. */
test('exporters.datadog.api.key and exporter headers are redacted from logs', () => {
  const logger = new URL('../../../src/telemetry/logger.ts', import.meta.url).href;
  const load = new URL('../../../src/config/load.ts', import.meta.url).href;
  const script = `
    import { createLogger } from ${JSON.stringify(logger)};
    import { parseConfig } from ${JSON.stringify(load)};
    const config = parseConfig('exporters: { datadog: { api: { key: "\${K}" } }, otlp: { endpoint: "http://c:4318", headers: { authorization: "Bearer \${T}" } } }', 'inline', process.env);
    const log = createLogger('info');
    log.info({ config }, 'whole config');
    log.info({ exporters: config.exporters }, 'exporters section');
    log.info({ exporter: config.exporters[0] }, 'one exporter');
    log.info({ config: config.exporters[0].config }, 'its section');
    log.info({ api: config.exporters[0].config.api }, 'its api block');
    log.info({ request: { headers: { 'dd-api-key': process.env.K } } }, 'request headers');
    log.flush();
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, K: 'very-secret-api-key', T: 'very-secret-token' },
  });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { api?: { key: string; site: string } });
  assert.equal(lines.length, 6);
  assert.ok(!out.includes('very-secret'), out);
  assert.equal(lines[4]!.api?.key, '[redacted]');
  assert.equal(lines[4]!.api?.site, 'datadoghq.com', 'the site is not a secret');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

/** The S3 secrets from storage.s3 never reach a log line, however the config is logged. */
test('storage.s3 secrets are redacted from logs', () => {
  const logger = new URL('../../../src/telemetry/logger.ts', import.meta.url).href;
  const load = new URL('../../../src/config/load.ts', import.meta.url).href;
  const script = `
    import { createLogger } from ${JSON.stringify(logger)};
    import { parseConfig } from ${JSON.stringify(load)};
    const config = parseConfig('storage: { s3: { access_key_id: GK1, secret_access_key: "\${S}", session_token: "\${T}" } }', 'inline', process.env);
    const log = createLogger('info');
    log.info({ config }, 'whole config');
    log.info({ storage: config.storage }, 'storage section');
    log.info({ s3: config.storage.s3 }, 's3 section');
    log.flush();
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, S: 'very-secret-key-material', T: 'very-secret-session-token' },
  });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 3);
  assert.ok(!out.includes('very-secret'), out);
  assert.equal((lines[2]!.s3 as Record<string, unknown>).secret_access_key, '[redacted]');
  assert.equal((lines[2]!.s3 as Record<string, unknown>).access_key_id, 'GK1', 'the key id is not a secret');
});

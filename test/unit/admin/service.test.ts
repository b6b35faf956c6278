import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { BIN, writeEmbeddedConfig } from '../../support/service.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TOKEN = 'svc-admin-token-5f0c1e7a9b2d4c68';

test('tailsampler start with an admin section serves the admin API on its own listener and never logs the token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-admin-svc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = writeEmbeddedConfig(dir, '{ endpoint: "127.0.0.1:0", log_level: debug }', 'admin: { endpoint: "127.0.0.1:0", token: "${TAILSAMPLER_ADMIN_TOKEN}" }');
  const child = spawn(process.execPath, [BIN, 'start', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TAILSAMPLER_ADMIN_TOKEN: TOKEN },
  });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const admin = await new Promise<string | null>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"admin":"([^"]+)".*tailsampler started/.exec(out);
      if (m !== null) resolve(m[1]!);
    });
    void exited.then(() => resolve(null));
  });
  try {
    assert.ok(admin !== null, out);
    assert.match(admin, /^127\.0\.0\.1:\d+$/);
    const health = await fetch(`http://${admin}/v1/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    const doc = await fetch(`http://${admin}/v1/openapi.json`);
    assert.equal(((await doc.json()) as { openapi: string }).openapi, '3.1.0');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
  assert.match(out, /admin API listening/);
  assert.ok(!out.includes(TOKEN), 'the token is in no log line');
});

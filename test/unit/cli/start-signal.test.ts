import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { BIN, writeEmbeddedConfig } from '../../support/service.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';


test('SIGTERM while the pipeline is still starting shuts it down cleanly once it is up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ts-start-signal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = writeEmbeddedConfig(dir, '{ endpoint: "127.0.0.1:0" }');
  const child = spawn(process.execPath, [BIN, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // The first thing the pipeline does is start its telemetry server; the rest of the start follows.
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('telemetry server listening')) resolve();
    });
    void exited.then(() => resolve());
  });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  assert.match(out, /"signal":"SIGTERM".*shutting down/);
});

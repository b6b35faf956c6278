import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BIN } from '../../support/service.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/config/${name}`, import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, DATA_DIR: '/tmp/x' } });

test('validate accepts a good config', () => {
  const r = run('validate', '--config', fixture('full.yaml'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid/);
});

test('validate reports every problem with its path and exits non-zero', () => {
  const r = run('validate', '--config', fixture('invalid.yaml'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /TS_CONFIG_INVALID/);
  assert.match(r.stderr, /receivers\.otlp\.grpc\.endpoint: must be host:port/);
  assert.match(r.stderr, /storage\.commit_interval_secs/);
  assert.match(r.stderr, /query\.batch_size/);
});

test('start refuses a bad config before listening anywhere', () => {
  const r = run('start', '--config', fixture('invalid.yaml'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /TS_CONFIG_INVALID/);
});

test('unknown commands and flags are usage errors', () => {
  assert.equal(run('frobnicate').status, 2);
  const r = run('validate', '--nope');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nope/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadConfig, parseConfig } from '../../../src/config/load.ts';

/**
 * Every config key (every leaf of the defaults, with each exporter type's section by its type) is
 * documented. The Datadog section is walked with `api` set, so its keys are walked too.
 */
test('the README configuration reference lists every key', async () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const config = await loadConfig(undefined, {});
  const all = parseConfig('exporters: { otlp: { endpoint: "http://collector:4318" }, datadog: { api: { key: k } }, debug: {} }', 'inline', {}).exporters;
  const withExporters = { ...config, exporters: Object.fromEntries(all.map((e) => [e.type, e.config])) };
  const missing: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (node !== null && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length > 0 && path !== 'exporters.otlp.headers') {
      for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k);
    } else if (!readme.includes(`| \`${path}\` |`)) missing.push(path);
  };
  walk(withExporters, '');
  // Sections that are null by default are keys of their own too.
  for (const path of ['exporters.datadog.api']) if (!readme.includes(`| \`${path}\` |`)) missing.push(path);
  assert.deepEqual(missing, []);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Metrics } from '../../../src/telemetry/metrics.ts';

interface Documented {
  type: string;
  labels: string[];
  meaning: string;
}

interface Registered {
  type: string;
  labels: string[];
}

/** The rows of the README's "Own telemetry" table: | `name` | type | `label`, … or — | meaning |. */
function documentedMetrics(): { rows: Map<string, Documented>; section: string } {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('\n## Own telemetry\n');
  assert.ok(start >= 0, 'README has an "Own telemetry" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, Documented>();
  for (const line of section.split('\n')) {
    const cells = line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
    const name = /^`(tailsampler_[a-z0-9_]+)`$/.exec(cells[0] ?? '')?.[1];
    if (name === undefined) continue;
    assert.ok(!rows.has(name), `${name} is listed once`);
    const labels = cells[2] === '—' ? [] : [...(cells[2] ?? '').matchAll(/`([a-zA-Z_][a-zA-Z0-9_]*)`/g)].map((m) => m[1]!);
    rows.set(name, { type: cells[1] ?? '', labels: labels.sort(), meaning: cells.slice(3).join('|').trim() });
  }
  return { rows, section };
}

function registered(registry: Registry): Map<string, Registered> {
  const out = new Map<string, Registered>();
  for (const m of registry.getMetricsAsArray()) {
    const labelNames = (m as { labelNames?: unknown }).labelNames ?? [];
    assert.ok(Array.isArray(labelNames), `${m.name}: prom-client keeps labelNames on the metric`);
    out.set(m.name, { type: String(m.type), labels: [...(labelNames as string[])].sort() });
  }
  return out;
}

/** What collectDefaultMetrics adds with our prefix: documented as a group, not one by one. */
function processMetricNames(): Set<string> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tailsampler_' });
  return new Set(registry.getMetricsAsArray().map((m) => m.name));
}

test('every metric the README lists is registered, with the documented type and labels', () => {
  const { rows } = documentedMetrics();
  assert.ok(rows.size > 0, 'the table parsed to at least one row');
  const actual = registered(new Metrics(undefined, true).registry);
  const wrong: string[] = [];
  for (const [name, doc] of rows) {
    const m = actual.get(name);
    if (m === undefined) wrong.push(`${name}: listed in the README but not registered`);
    else {
      if (m.type !== doc.type) wrong.push(`${name}: README says ${doc.type}, registered as ${m.type}`);
      if (m.labels.join() !== doc.labels.join()) wrong.push(`${name}: README labels [${doc.labels.join()}], registered [${m.labels.join()}]`);
    }
    if (doc.meaning === '') wrong.push(`${name}: no meaning given`);
  }
  assert.deepEqual(wrong, []);
});

test('every registered metric is in the README table, Node process metrics as their group', () => {
  const { rows, section } = documentedMetrics();
  const process = processMetricNames();
  const undocumented = [...registered(new Metrics(undefined, true).registry).keys()].filter((n) => !process.has(n) && !rows.has(n));
  assert.deepEqual(undocumented, [], 'add a row to the "Own telemetry" table for each');
  // The group sentence stays true: every default metric falls under one of the prefixes it names.
  for (const prefix of ['tailsampler_process_', 'tailsampler_nodejs_']) assert.ok(section.includes(`\`${prefix}*\``), `README names ${prefix}*`);
  assert.deepEqual(
    [...process].filter((n) => !n.startsWith('tailsampler_process_') && !n.startsWith('tailsampler_nodejs_')),
    [],
  );
});

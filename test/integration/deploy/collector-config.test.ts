/**
 * The examples in collector-config/: every Collector config passes `otelcol validate` with the test
 * Collector (test/infra/otelcol/builder.yaml holds every component they use: unknown components, keys
 * or values fail), every tailsampler config passes `tailsampler validate`, and the pairs agree (the
 * Kafka topic the Collector writes is the one the spool reads; the gateway routes by trace id).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { otelcolBinary } from '../../support/otelcol.ts';

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const DIR = join(REPO, 'collector-config');
const BIN = join(REPO, 'bin/tailsampler.js');

/** What the examples' `${env:VAR}` / `${VAR}` references would be set to in a deployment. */
const ENV = {
  PATH: process.env.PATH ?? '',
  KAFKA_BOOTSTRAP: 'kafka:9092',
  POD_NAMESPACE: 'observability',
  BACKEND_OTLP_ENDPOINT: 'https://backend.example.com:4318',
  S3_ACCESS_KEY_ID: 'GK0123456789abcdef01234567',
  S3_SECRET_ACCESS_KEY: 'secret',
};

type Yaml = Record<string, unknown>;

async function examples(): Promise<{ file: string; text: string; doc: Yaml }[]> {
  const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(DIR, file), 'utf8');
      return { file, text, doc: parse(text) as Yaml };
    }),
  );
}

const isCollectorConfig = (doc: Yaml) => typeof doc.service === 'object' && doc.service !== null && 'pipelines' in doc.service;

async function otelcolValidate(bin: string, path: string): Promise<void> {
  await execFileAsync(bin, ['validate', `--config=file:${path}`], { env: ENV, timeout: 60_000 });
}

test('collector-config/ has the four setups', async () => {
  const files = (await examples()).map((e) => e.file);
  for (const f of ['agent-to-tailsampler.yaml', 'gateway-loadbalancing.yaml', 'collector-to-kafka.yaml', 'gateway-from-tailsampler.yaml', 'tailsampler.yaml', 'tailsampler-kafka.yaml']) {
    assert.ok(files.includes(f), `collector-config/${f} missing`);
  }
});

test('every Collector config passes `otelcol validate`, every tailsampler config `tailsampler validate`', { timeout: 25 * 60_000 }, async () => {
  const otelcol = await otelcolBinary();
  let collectors = 0;
  let ours = 0;
  for (const { file, doc } of await examples()) {
    const path = join(DIR, file);
    if (isCollectorConfig(doc)) {
      await otelcolValidate(otelcol, path).catch((e: { stdout: string; stderr: string }) => assert.fail(`otelcol validate ${file}:\n${e.stderr}${e.stdout}`));
      collectors++;
    } else {
      const r = await execFileAsync(process.execPath, [BIN, 'validate', '--config', path], { env: ENV }).catch(
        (e: { stdout: string; stderr: string }) => assert.fail(`tailsampler validate ${file}:\n${e.stderr}${e.stdout}`),
      );
      assert.match(r.stdout, /valid/);
      ours++;
    }
  }
  assert.equal(collectors, 4, 'Collector configs validated');
  assert.equal(ours, 2, 'tailsampler configs validated');
});

test('`otelcol validate` refuses a misspelt key, so a passing example means something', { timeout: 25 * 60_000 }, async () => {
  const otelcol = await otelcolBinary();
  const dir = await mkdtemp(join(tmpdir(), 'tailsampler-collector-config-'));
  try {
    const text = await readFile(join(DIR, 'collector-to-kafka.yaml'), 'utf8');
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, text.replace(/^(\s+)partition_traces_by_id:/m, '$1partition_trace_by_id:'));
    await assert.rejects(otelcolValidate(otelcol, broken), (e: { stderr: string; stdout: string }) => {
      assert.match(e.stderr + e.stdout, /invalid keys: partition_trace_by_id/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the Collector → Kafka example writes what the Kafka spool example reads', async () => {
  const byFile = new Map((await examples()).map((e) => [e.file, e.doc]));
  const kafka = (byFile.get('collector-to-kafka.yaml')!.exporters as Yaml).kafka as {
    brokers: string[];
    traces: { topic: string; encoding: string };
    partition_traces_by_id: boolean;
    producer: { max_message_bytes: number };
  };
  const spool = (byFile.get('tailsampler-kafka.yaml')!.spool as Yaml).kafka as { brokers: string[]; topic: string; max_message_bytes: number };
  assert.equal(kafka.traces.encoding, 'otlp_proto', 'the spool reads otlp_proto');
  assert.equal(kafka.partition_traces_by_id, true, 'every span of a trace in one partition');
  assert.equal(kafka.traces.topic, spool.topic, 'same topic');
  assert.deepEqual(kafka.brokers.map((b) => b.replace('${env:', '${')), spool.brokers, 'same brokers');
  assert.ok(spool.max_message_bytes >= kafka.producer.max_message_bytes, 'the spool takes the largest message the Collector writes');
});

test('the gateway routes by trace id to the replicas of a headless Service', async () => {
  const doc = (await examples()).find((e) => e.file === 'gateway-loadbalancing.yaml')!.doc;
  const lb = (doc.exporters as Yaml).loadbalancing as { routing_key: string; resolver: { dns?: { hostname: string; port: string } } };
  assert.equal(lb.routing_key, 'traceID');
  assert.match(lb.resolver.dns?.hostname ?? '', /^tailsampler-embedded\./, 'the headless Service of deploy/tailsampler-embedded.yaml');
  assert.equal(lb.resolver.dns?.port, '4317');
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createExporters } from '../../../src/export/factory.ts';
import type { TraceExporter } from '../../../src/export/exporter.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import type { DebugExporterConfig } from '../../../src/config/schema.ts';
import { buildRequest, counterValue } from './support.ts';

async function run(verbosity: DebugExporterConfig['verbosity']) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const metrics = new Metrics();
  const [exporter] = createExporters([{ id: 'debug', type: 'debug', config: { verbosity } }], { metrics, logger: pino({ level: 'info' }, sink) }) as [TraceExporter];
  assert.equal(exporter.id, 'debug');
  const result = await exporter.export(buildRequest(3, 7), 3);
  await new Promise((r) => setImmediate(r));
  return { lines, result, metrics };
}

describe('debug exporter', () => {
  it('basic: one line per request with span and trace counts', async () => {
    const { lines, result, metrics } = await run('basic');
    assert.deepEqual(result, { ok: true, rejectedSpans: 0 });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.spans, 3);
    assert.equal(lines[0]!.traces, 1);
    assert.equal(await counterValue(metrics.exporterSentSpans, { exporter: 'debug' }), 3);
  });

  it('normal: a line per span with hex ids and name', async () => {
    const { lines } = await run('normal');
    const spans = lines.filter((l) => l.msg === 'span');
    assert.equal(spans.length, 3);
    assert.equal(spans[0]!.traceId, '07'.repeat(16));
    assert.equal(spans[1]!.spanId, '0700000000000002');
    assert.equal(spans[2]!.name, 'span-2');
  });

  it('detailed: the full span with attributes, resource and scope', async () => {
    const { lines } = await run('detailed');
    type Attribute = { key: string; value: { stringValue?: string; intValue?: string } };
    const spans = lines.filter((l) => l.msg === 'span') as unknown as {
      span: { spanId: string; attributes: Attribute[] };
      resource: { attributes: Attribute[] };
      scope: { name: string };
    }[];
    assert.equal(spans.length, 3);
    assert.equal(spans[1]!.span.spanId, '0700000000000002');
    assert.deepEqual(spans[1]!.span.attributes, [{ key: 'i', value: { intValue: '1' } }]);
    assert.equal(spans[0]!.resource.attributes[0]!.value.stringValue, 'unit');
    assert.equal(spans[0]!.scope.name, 'unit-test');
  });

  it('refuses bytes that are not an ExportTraceServiceRequest, permanently', async () => {
    const metrics = new Metrics();
    const [exporter] = createExporters([{ id: 'debug', type: 'debug', config: { verbosity: 'basic' } }], { metrics, logger: pino({ level: 'silent' }) }) as [TraceExporter];
    const result = await exporter.export(new Uint8Array([0xff, 0xff, 0xff]), 1);
    assert.ok(!result.ok && !result.retryable);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'debug', outcome: 'permanent' }), 1);
  });
});

import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { SendingQueue, type QueueJob } from '../../../src/export/sending-queue.ts';
import { createExporters } from '../../../src/export/factory.ts';
import { ExporterShutdownError } from '../../../src/export/errors.ts';
import type { TraceExporter, ExportResult } from '../../../src/export/exporter.ts';
import { Metrics } from '../../../src/telemetry/metrics.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { buildRequest, counterValue, otlpConfig, settle, startHttpServer } from './support.ts';

/** A job that finishes when the test says so, or when the queue aborts it. */
function controllable(label: string) {
  let finish!: () => void;
  let started = false;
  let aborted = false;
  const job: QueueJob<string> = {
    run: (signal) =>
      new Promise<string>((resolve) => {
        started = true;
        finish = () => resolve(`${label}:done`);
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve(`${label}:aborted`);
        });
      }),
    drop: () => `${label}:dropped`,
  };
  return { job, finish: () => finish(), isStarted: () => started, isAborted: () => aborted };
}

describe('SendingQueue', () => {
  it('makes producers wait while the queue is full and admits them in order as consumers free up', async () => {
    const sizes: number[] = [];
    const q = new SendingQueue<string>({ capacity: 1, consumers: 1, onSizeChange: (s) => sizes.push(s) });
    const a = controllable('a');
    const b = controllable('b');
    const c = controllable('c');
    const admittedA = await q.enqueue(a.job); // taken by the consumer at once
    const admittedB = await q.enqueue(b.job); // waits in the queue (size 1 = full)
    let cAdmitted = false;
    const pendingC = q.enqueue(c.job).then((x) => {
      cAdmitted = true;
      return x;
    });
    await settle();
    assert.equal(a.isStarted(), true);
    assert.equal(b.isStarted(), false);
    assert.equal(cAdmitted, false, 'a full queue must hold the producer back');
    assert.equal(q.size, 1);
    assert.ok(Math.max(...sizes) <= 1, 'never more queued than capacity');

    a.finish();
    assert.equal(await admittedA.done, 'a:done');
    await settle();
    assert.equal(cAdmitted, true, 'a freed slot admits the waiting producer');
    assert.equal(b.isStarted(), true);
    b.finish();
    assert.equal(await admittedB.done, 'b:done');
    await settle();
    c.finish();
    assert.equal(await (await pendingC).done, 'c:done');
  });

  it('shutdown drains within the bound, then aborts running jobs and drops queued and blocked ones', async () => {
    const q = new SendingQueue<string>({ capacity: 1, consumers: 1 });
    const a = controllable('a');
    const b = controllable('b');
    const c = controllable('c');
    const ra = await q.enqueue(a.job);
    const rb = await q.enqueue(b.job);
    const pc = q.enqueue(c.job);
    await q.shutdown(20); // a never finishes by itself
    assert.equal(a.isAborted(), true);
    assert.equal(await ra.done, 'a:aborted');
    assert.equal(await rb.done, 'b:dropped');
    assert.equal(b.isStarted(), false);
    assert.equal(await (await pc).done, 'c:dropped');
    const late = await q.enqueue(controllable('d').job);
    assert.equal(await late.done, 'd:dropped', 'nothing is taken after shutdown');
  });

  it('shutdown lets queued jobs finish when they do so within the bound', async () => {
    const q = new SendingQueue<string>({ capacity: 4, consumers: 1 });
    const jobs = ['a', 'b', 'c'].map(controllable);
    const admitted = [];
    for (const j of jobs) admitted.push(await q.enqueue(j.job));
    const stopping = q.shutdown(60_000);
    for (const j of jobs) {
      await settle();
      j.finish();
    }
    await stopping;
    assert.deepEqual(await Promise.all(admitted.map((x) => x.done)), ['a:done', 'b:done', 'c:done']);
  });
});

describe('OTLP exporter queue end to end', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('holds back exports while the destination is stuck and fails what is left on shutdown', async () => {
    const held: ServerResponse[] = [];
    const server = await startHttpServer((_req, res) => held.push(res));
    cleanups.push(server.close);
    const metrics = new Metrics();
    const [exporter] = createExporters(
      [{ id: 'otlp', type: 'otlp', config: otlpConfig(server.url, { sending_queue: { queue_size: 1, num_consumers: 1, max_backlog_traces: 1000 }, timeout_ms: 60_000 }) }],
      { metrics, logger: silentLogger(), shutdownDrainMs: 50 },
    ) as [TraceExporter];
    const results: ExportResult[] = [];
    const exports = [1, 2, 3].map((seed) => exporter.export(buildRequest(2, seed), 2).then((r) => results.push(r)));
    // Wait until the first request reached the server; the second sits in the queue, the third waits.
    while (server.requests.length === 0) await settle();
    await settle();
    assert.equal(server.requests.length, 1, 'one consumer: one request in flight');
    assert.equal(await counterValue(metrics.exporterQueueSize, { exporter: 'otlp' }), 1);
    assert.equal(results.length, 0);

    await exporter.shutdown();
    await Promise.all(exports);
    assert.equal(results.length, 3);
    for (const r of results) assert.ok(!r.ok && r.error instanceof ExporterShutdownError);
    assert.equal(await counterValue(metrics.exporterFailedSpans, { exporter: 'otlp', outcome: 'shutdown' }), 6);
    assert.equal(await counterValue(metrics.exporterQueueSize, { exporter: 'otlp' }), 0);
    for (const res of held) res.destroy();
  });
});

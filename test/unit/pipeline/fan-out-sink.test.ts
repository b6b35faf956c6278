import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredDecision } from '../../../src/evaluate/decision-store.ts';
import type { DecidedTrace, DecisionSink, LateRows } from '../../../src/pipeline/decision-sink.ts';
import { FanOutSink } from '../../../src/pipeline/fan-out-sink.ts';

function recorder(name: string, log: string[], opts: { failStart?: boolean; recording?: boolean } = {}): DecisionSink {
  const sink: DecisionSink = {
    start: async () => {
      if (opts.failStart) throw new Error(`${name} cannot start`);
      log.push(`${name}.start`);
    },
    shutdown: async () => void log.push(`${name}.shutdown`),
    decided: async (d: readonly StoredDecision[]) => {
      await new Promise((r) => setTimeout(r, name === 'a' ? 5 : 0));
      log.push(`${name}.decided:${d.length}`);
    },
    late: async (r: readonly LateRows[]) => void log.push(`${name}.late:${r.length}`),
    released: async () => void log.push(`${name}.released`),
  };
  if (opts.recording !== false) sink.recording = (t: readonly DecidedTrace[]) => void log.push(`${name}.recording:${t.length}`);
  return sink;
}

test('every call reaches each sink in order, the next only after the previous resolved; recording only where implemented', async () => {
  const log: string[] = [];
  const fan = new FanOutSink([recorder('a', log), recorder('b', log, { recording: false })]);
  await fan.start();
  fan.recording([{} as DecidedTrace]);
  await fan.decided([{} as StoredDecision, {} as StoredDecision]);
  await fan.late([]);
  await fan.released(() => true);
  await fan.shutdown();
  assert.deepEqual(log, ['a.start', 'b.start', 'a.recording:1', 'a.decided:2', 'b.decided:2', 'a.late:0', 'b.late:0', 'a.released', 'b.released', 'b.shutdown', 'a.shutdown']);
});

test('a sink failing to start shuts down those already started and fails the start', async () => {
  const log: string[] = [];
  const fan = new FanOutSink([recorder('a', log), recorder('b', log, { failStart: true }), recorder('c', log)]);
  await assert.rejects(fan.start(), /b cannot start/);
  assert.deepEqual(log, ['a.start', 'a.shutdown']);
});

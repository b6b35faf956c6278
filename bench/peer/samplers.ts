/** The samplers side by side: the Collector with `tail_sampling`, and tailsampler on a storage path. */
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startService } from '../../test/support/service.ts';
import { SPANS_PER_TRACE, type PeerOptions } from './options.ts';
import { removeDir, scrape, services, sleep, tempDir, track, until } from './processes.ts';
import { type Sink } from './sink.ts';

export interface Tuning {
  /** decision_wait = inactivity_threshold_secs. */
  wait: number;
  /** otelcol num_traces (traces held at once); tailsampler has no such bound. */
  numTraces: number;
}

/** A sampling process under test, seen through its own metrics. */
export interface Sampler {
  pid: number;
  /** http://127.0.0.1:port of its OTLP/HTTP receiver. */
  http: string;
  /** Spans its receiver accepted. */
  accepted(): Promise<number>;
  /** Spans or traces it refused, failed or dropped so far, by its metric's name (all 0: nothing lost). */
  losses(): Promise<Map<string, number>>;
  /** Traces decided so far. */
  decided(): Promise<number>;
  /** Spans accepted but not yet in its store (tailsampler: the table; the Collector: its processor). */
  backlog(): Promise<number>;
  /** Every span accepted is in its store and seen by what decides (tailsampler: also read by the evaluator). */
  caughtUp(): Promise<boolean>;
  stop(): Promise<void>;
}

export interface SamplerKind {
  label: string;
  start(t: Tuning): Promise<Sampler>;
}

/** Reads a Prometheus endpoint: `m` sums the named series, `pick` returns each (0 when absent). */
function metricReader(url: string): { m: (...names: string[]) => Promise<number>; pick: (...names: string[]) => Promise<Map<string, number>> } {
  return {
    m: async (...names) => {
      const all = await scrape(url);
      return names.reduce((sum, n) => sum + (all.get(n) ?? 0), 0);
    },
    pick: async (...names) => {
      const all = await scrape(url);
      return new Map(names.map((n) => [n, all.get(n) ?? 0]));
    },
  };
}

export function policies(latencyMs: number): unknown[] {
  // The same list for both, in the Collector's YAML (tailsampler takes it unchanged).
  return [
    { name: 'errors', type: 'status_code', status_code: { status_codes: ['ERROR'] } },
    { name: 'slow', type: 'latency', latency: { threshold_ms: latencyMs } },
  ];
}

export function otelcolKind(bin: string, sink: Sink, o: PeerOptions): SamplerKind {
  return {
    label: 'otelcol tail_sampling',
    async start(t) {
      const dir = tempDir('tailsampler-peer-otelcol-');
      let lastError: unknown;
      // A free port can be taken between finding and binding it: a start that fails is tried on fresh ones.
      for (let attempt = 0; attempt < 3; attempt++) {
        const [http, metrics] = [await freePort(), await freePort()];
        const config = {
          receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${http}` } } } },
          processors: {
            tail_sampling: {
              decision_wait: `${t.wait}s`,
              num_traces: t.numTraces,
              drop_pending_traces_on_shutdown: true,
              policies: policies(o.latencyMs),
            },
          },
          exporters: { otlp_http: { traces_endpoint: `${sink.url}/v1/traces`, compression: 'none' } },
          service: {
            telemetry: {
              logs: { level: 'warn' },
              metrics: { level: 'normal', readers: [{ pull: { exporter: { prometheus: { host: '127.0.0.1', port: metrics } } } }] },
            },
            pipelines: { traces: { receivers: ['otlp'], processors: ['tail_sampling'], exporters: ['otlp_http'] } },
          },
        };
        const file = join(dir, 'config.yaml');
        writeFileSync(file, JSON.stringify(config));
        const child = spawn(bin, [`--config=file:${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
        const { exited, tail } = track(child);
        let dead = false;
        void exited.then(() => (dead = true));
        const url = `http://127.0.0.1:${metrics}/metrics`;
        const { m, pick } = metricReader(url);
        const backlog = async (): Promise<number> => {
          const all = await scrape(url);
          return (all.get('otelcol_receiver_accepted_spans') ?? 0) - (all.get('otelcol_processor_tail_sampling_new_trace_id_received') ?? 0) * SPANS_PER_TRACE;
        };
        if (!(await until(async () => !dead && (await fetch(`http://127.0.0.1:${http}/`).then(() => true)) && (await scrape(url)).size > 0, 30_000, 100)) || dead) {
          child.kill('SIGKILL');
          await exited;
          lastError = new Error(`the Collector did not start:\n${tail()}`);
          continue;
        }
        return {
          pid: child.pid!,
          http: `http://127.0.0.1:${http}`,
          accepted: () => m('otelcol_receiver_accepted_spans'),
          losses: () =>
            pick(
              'otelcol_receiver_refused_spans',
              'otelcol_receiver_failed_spans',
              'otelcol_processor_tail_sampling_sampling_trace_dropped_too_early',
              'otelcol_processor_tail_sampling_traces_dropped_too_large',
              'otelcol_exporter_send_failed_spans',
              'otelcol_exporter_enqueue_failed_spans',
            ),
          decided: () => m('otelcol_processor_tail_sampling_global_count_traces_sampled'),
          // Spans are handed to the processor's loop through a channel: behind by the traces it has not
          // seen yet (each replay trace arrives whole in one request).
          backlog,
          caughtUp: async () => (await backlog()) <= 0,
          async stop() {
            if (!dead) {
              child.kill('SIGTERM');
              if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) child.kill('SIGKILL');
              await exited;
            }
            removeDir(dir);
          },
        };
      }
      removeDir(dir);
      throw lastError;
    },
  };
}

export function tailsamplerKind(label: string, sink: Sink, o: PeerOptions, storage: () => { spool?: Record<string, unknown>; storage?: Record<string, unknown> }): SamplerKind {
  return {
    label,
    async start(t) {
      const { spool, storage: store } = storage();
      const svc = await startService({
        config: {
          ...(spool ? { spool } : {}),
          storage: { ...store, commit_interval_secs: o.commitSecs },
          query: { scan_interval_secs: o.scanSecs, inactivity_threshold_secs: t.wait, max_trace_age_secs: Math.max(120, t.wait * 2) },
          sampling: { policies: policies(o.latencyMs) },
          exporters: { otlp: { endpoint: sink.url, compression: 'none', timeout_ms: 30_000 } },
          telemetry: { log_level: 'warn' },
        },
      });
      services.add(svc);
      const url = `${svc.telemetry}/metrics`;
      const { m, pick } = metricReader(url);
      return {
        pid: svc.pid,
        http: svc.http,
        accepted: () => m('tailsampler_receiver_accepted_spans'),
        losses: () => pick('tailsampler_receiver_refused_spans', 'tailsampler_exporter_failed_spans', 'tailsampler_exporter_dead_lettered_traces'),
        decided: () => m('tailsampler_traces_decided'),
        backlog: async () => {
          const all = await scrape(url);
          return (all.get('tailsampler_receiver_accepted_spans') ?? 0) - (all.get('tailsampler_materializer_committed_spans') ?? 0);
        },
        // Committed to the table and read by the evaluator (live or decided).
        caughtUp: async () => {
          const all = await scrape(url);
          const accepted = all.get('tailsampler_receiver_accepted_spans') ?? 0;
          const seen = (all.get('tailsampler_evaluator_live_traces') ?? 0) + (all.get('tailsampler_traces_decided') ?? 0);
          return (all.get('tailsampler_materializer_committed_spans') ?? 0) >= accepted && seen * SPANS_PER_TRACE >= accepted;
        },
        async stop() {
          if (!(await Promise.race([svc.stop().then(() => true), sleep(30_000).then(() => false)]))) await svc.kill();
          services.delete(svc);
          rmSync(svc.dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/** "metric +n, …" for the counters that grew since `before` (all of them without it); '' when none did. */
export function describe(now: Map<string, number>, before = new Map<string, number>()): string {
  return [...now]
    .map(([name, n]) => [name, n - (before.get(name) ?? 0)] as const)
    .filter(([, d]) => d > 0)
    .map(([name, d]) => `${name} +${d}`)
    .join(', ');
}

/**
 * `npm run bench -- --peer otelcol`: tailsampler side by side with the OpenTelemetry Collector's own
 * tail sampler (contrib `tail_sampling`), same load, same policies, same wait, both exporting the
 * traces they keep over OTLP/HTTP to one sink in this process. Every process listens on 127.0.0.1.
 *
 * Measurements (`--only cpu|ingest|memory|lag` picks one), each on a freshly started sampler:
 *  - cpu: telemetrygen (the Collector project's load generator, 10-span traces: a root and 9
 *    children; 5% with status ERROR, 5% lasting twice the latency threshold, in their own processes)
 *    at `--peer-rate` spans/s until `--peer-load-spans`; the sampling process's utime+stime
 *    (/proc/<pid>/stat) from just before the load until every trace is decided and every kept trace is
 *    at the sink, per million spans its receiver accepted; and the same in steady state, from
 *    STEADY_FROM_SECS into the load to its end (tailsampler's compiler warm-up left out).
 *  - ingest: bench/replay.ts (pre-encoded requests, near-zero CPU per span) offering a rate for
 *    `--peer-step-secs` after an uncounted warm-up: ×1.5 per step from `--peer-ingest-start` until a
 *    step fails (÷2 while none has passed), then halfway between the best pass and the lowest failure
 *    until they are within 10%. A step passes when the generator kept the rate (≥ 97%, 32 requests in
 *    flight), nothing was refused, failed, rejected or dropped (the sampler's own counters too), and
 *    the sampler kept up: as the load stops its table (the Collector: its processor) is behind by at
 *    most what arrived in the last commit interval + 2 s, and it has caught up within max(10 s,
 *    3 commit intervals + 2 scans) (tailsampler: every accepted span committed and read by the
 *    evaluator; the Collector: every trace in its processor). At most 12 steps and
 *    `--peer-ingest-budget-secs` per sampler. Then the same steps with telemetrygen as the generator,
 *    sharing the cores with the sampler (its CPU per span counts): a step passes when every span it
 *    made was accepted within 3% of the step's time (+1 s for its processes to start and flush).
 *  - memory: the sampler's RSS with each of `--peer-spans` (e.g. 1M, 5M) spans pending (a one-hour wait,
 *    nothing decided), loaded by the replay generator as fast as the sampler takes them; and the peak.
 *  - lag: the replay generator at `--peer-lag-rate` for `--peer-lag-traces` traces, each trace whole in
 *    one request; per kept trace, from its request being sent to its last span reaching the sink:
 *    p50/p99. The same clock and the same sink for both, so the figures are comparable; the floor is the
 *    wait (`decision_wait` = `inactivity_threshold_secs`).
 * Processes started here are killed when this process exits, however it exits.
 */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { type KafkaGarage, missingKafkaGarage, startKafkaGarage } from './infra.ts';
import { cpuSeconds, killAll, removeDir, rssMiB, sleep, tempDir, until } from './peer/processes.ts';
import { ERROR_SHARE, IDLE_SECS, INGEST_CONCURRENCY, MANIFEST, MAX_INGEST_STEPS, REPO, SLOW_SHARE, SPANS_PER_TRACE, STEADY_FROM_SECS, run, type Measurement, type PeerOptions } from './peer/options.ts';
import { describe, otelcolKind, tailsamplerKind, type Sampler, type SamplerKind, type Tuning } from './peer/samplers.ts';
import { Sink } from './peer/sink.ts';
import { replay, shareReplayTemplates, telemetrygen, telemetrygenPlan } from './peer/load.ts';

type Row = Map<string, string>;
interface Figures {
  cpu: Row;
  steady: Row;
  idle: Row;
  ingest: Row;
  ingestTelemetrygen: Row;
  pending: Map<number, Row>;
  peak: Row;
  lag50: Row;
  lag99: Row;
  notes: string[];
}

function log(line: string): void {
  console.log(`  ${line}`);
}

async function withSampler<T>(kind: SamplerKind, t: Tuning, body: (s: Sampler) => Promise<T>): Promise<T> {
  const s = await kind.start(t);
  try {
    return await body(s);
  } finally {
    await s.stop();
  }
}

async function measureCpu(kind: SamplerKind, genBin: string, sink: Sink, o: PeerOptions, f: Figures): Promise<void> {
  sink.reset();
  await withSampler(kind, { wait: o.wait, numTraces: 1_000_000 }, async (s) => {
    const plan = telemetrygenPlan(s.http, o.rate, o.loadSpans, o.latencyMs);
    // What it burns doing nothing (timers, scans of an empty table), for reading the figure below.
    await sleep(1000);
    const idle0 = cpuSeconds(s.pid);
    await sleep(IDLE_SECS * 1000);
    const idle = (cpuSeconds(s.pid) - idle0) / IDLE_SECS;
    f.idle.set(kind.label, `${(idle * 100).toFixed(1)}%`);
    const cpu0 = cpuSeconds(s.pid);
    const t0 = performance.now();
    let steadyFrom: { cpu: number; accepted: number } | undefined;
    const steadyTimer = setTimeout(() => {
      const cpu = cpuSeconds(s.pid);
      s.accepted().then(
        (accepted) => (steadyFrom = { cpu, accepted }),
        (e: unknown) => f.notes.push(`${kind.label}, cpu run: reading accepted spans ${STEADY_FROM_SECS} s into the load failed: ${String(e)}`),
      );
    }, STEADY_FROM_SECS * 1000);
    await telemetrygen(genBin, plan, ((plan.spans / o.rate) * 3 + 120) * 1000);
    clearTimeout(steadyTimer);
    const loadSecs = (performance.now() - t0) / 1000;
    const loadEnd = { cpu: cpuSeconds(s.pid), accepted: await s.accepted() };
    if (steadyFrom !== undefined && loadEnd.accepted > steadyFrom.accepted) {
      const steady = ((loadEnd.cpu - steadyFrom.cpu) * 1e6) / (loadEnd.accepted - steadyFrom.accepted);
      f.steady.set(kind.label, `${steady.toFixed(1)} s`);
      log(`[${kind.label}] cpu, steady state: ${(loadEnd.cpu - steadyFrom.cpu).toFixed(1)} CPU s for ${loadEnd.accepted - steadyFrom.accepted} spans accepted from ${STEADY_FROM_SECS} s into the load to its end; ${steady.toFixed(1)} CPU s per million spans`);
    }
    const decided = await until(async () => (await s.decided()) >= plan.traces, (o.wait + 120) * 1000);
    // Then until every kept trace is at the sink, or nothing more arrived for 5 s.
    let last = -1;
    let still = 0;
    await until(async () => {
      if (sink.traces >= plan.kept) return true;
      still = sink.spans === last ? still + 1 : 0;
      last = sink.spans;
      return still >= 20 && sink.traces > 0;
    }, 120_000);
    const cpu = cpuSeconds(s.pid) - cpu0;
    const secs = (performance.now() - t0) / 1000;
    const accepted = await s.accepted();
    const losses = describe(await s.losses());
    const perM = (cpu * 1e6) / accepted;
    f.cpu.set(kind.label, `${perM.toFixed(1)} s`);
    log(
      `[${kind.label}] cpu: ${accepted} spans accepted of ${plan.spans} sent by telemetrygen in ${loadSecs.toFixed(1)} s (${Math.round(plan.spans / loadSecs)} spans/s); ` +
        `${cpu.toFixed(1)} CPU s over ${secs.toFixed(1)} s until all decided${decided ? '' : ' (NOT all decided)'} and kept at the sink (${sink.traces} of ${plan.kept} kept traces); ` +
        `${perM.toFixed(1)} CPU s per million spans (idle: ${(idle * 100).toFixed(1)}% of a core)${losses ? `; LOST ${losses}` : ''}`,
    );
    if (accepted < plan.spans || sink.traces !== plan.kept || losses) f.notes.push(`${kind.label}, cpu run: ${accepted}/${plan.spans} spans accepted, ${sink.traces}/${plan.kept} kept traces at the sink${losses ? `, lost: ${losses}` : ''}`);
  });
}

/** One ingest step's outcome, whichever generator offered it. */
interface StepResult {
  /** What the generator saw go wrong (refused, failed, rejected spans; a rate it could not hold). */
  problems: string[];
  /** The generator's own CPU per million spans, when it reports it. */
  generatorCpu?: number;
}

/** An ingest step: an offered rate for `seconds` against a sampler. */
type Step = (rate: number, seconds: number) => Promise<StepResult>;

/** A load generator for the ingest steps: `label` tells its figures apart in the log. */
interface Generator {
  label: string;
  step: (s: Sampler) => Step;
}

const replayGenerator: Generator = {
  label: '',
  step: (s) => async (rate, seconds) => {
    const r = await replay(s.http, { rate: Math.round(rate), concurrency: INGEST_CONCURRENCY, seconds, spans: Math.ceil(rate * seconds * 1.05) + 1000, prefix: randomBytes(8).toString('hex') }, (seconds + 120) * 1000);
    const problems = [
      r.spansPerSecond >= 0.97 * rate ? '' : `generator reached ${r.spansPerSecond}/s only (${r.maxInFlight} requests in flight)`,
      r.refusedSpans ? `${r.refusedSpans} refused` : '',
      r.failedSpans ? `${r.failedSpans} failed (${JSON.stringify(r.failures)})` : '',
      r.rejectedSpans ? `${r.rejectedSpans} rejected` : '',
    ].filter(Boolean);
    return { problems, generatorCpu: (r.cpuSeconds * 1e6) / r.spans };
  },
};

/**
 * telemetrygen shares the cores with the sampler: a sampler that spends more per span leaves it less.
 * It reports nothing: every span it made must have been accepted, within 3% of the step's time (and
 * 1 s for its processes to start and flush).
 */
function telemetrygenGenerator(bin: string, latencyMs: number): Generator {
  return {
    label: ', telemetrygen',
    step: (s) => async (rate, seconds) => {
      const plan = telemetrygenPlan(s.http, rate, rate * seconds, latencyMs);
      const before = await s.accepted();
      const t0 = performance.now();
      await telemetrygen(bin, plan, (seconds * 3 + 120) * 1000);
      const secs = (performance.now() - t0) / 1000;
      const accepted = (await s.accepted()) - before;
      const problems = [
        accepted < plan.spans ? `${plan.spans - accepted} of ${plan.spans} spans not accepted` : '',
        secs <= plan.spans / rate / 0.97 + 1 ? '' : `generator took ${secs.toFixed(1)} s for ${plan.spans} spans`,
      ].filter(Boolean);
      return { problems };
    },
  };
}

async function measureIngest(kind: SamplerKind, gen: Generator, sink: Sink, o: PeerOptions, figure: Row): Promise<void> {
  sink.reset(undefined, 0, false);
  const label = `${kind.label}${gen.label}`;
  await withSampler(kind, { wait: o.wait, numTraces: 1_000_000 }, async (s) => {
    const deadline = Date.now() + o.ingestBudgetSecs * 1000;
    const catchUpMs = Math.max(10, 3 * o.commitSecs + 2 * o.scanSecs) * 1000;
    const step = gen.step(s);
    // Warm-up, not counted: JIT-compiled hot paths, first files and connections.
    await step(o.ingestStart / 2, Math.min(10, o.stepSecs));
    if (!(await until(() => s.caughtUp(), 120_000))) {
      figure.set(kind.label, `< ${o.ingestStart / 2} spans/s`);
      log(`[${label}] ingest: not caught up 120 s after the warm-up at ${o.ingestStart / 2} spans/s`);
      return;
    }
    // Up ×1.5 from the start until a step fails (down ÷2 if the first one does), then halfway between
    // the best pass and the lowest failure until they are within 10%.
    let best = 0;
    let failedAt = Infinity;
    let rate = o.ingestStart;
    for (let n = 0; n < MAX_INGEST_STEPS && rate >= 500 && Date.now() + o.stepSecs * 1000 < deadline; n++) {
      const lossesBefore = await s.losses();
      const r = await step(rate, o.stepSecs);
      // Behind by no more than what arrived during one commit interval and 2 s more when the load stops
      // (a buffer may hide a deficit for a while, not for a whole step), and then caught up soon after.
      const backlog = await s.backlog();
      const allowed = rate * (o.commitSecs + 2);
      const caughtUp = backlog <= allowed && (await until(() => s.caughtUp(), catchUpMs));
      const lost = describe(await s.losses(), lossesBefore);
      const ok = caughtUp && r.problems.length === 0 && !lost;
      const why = [
        ...r.problems,
        backlog > allowed ? `${backlog} spans behind as the load stopped (> ${Math.round(allowed)})` : caughtUp ? '' : `not caught up ${catchUpMs / 1000} s after`,
        lost ? `lost: ${lost}` : '',
      ].filter(Boolean);
      const genCpu = r.generatorCpu === undefined ? '' : ` (generator CPU ${r.generatorCpu.toFixed(2)} s per million spans)`;
      log(`[${label}] ingest step ${Math.round(rate)} spans/s × ${o.stepSecs} s: ${ok ? 'ok' : `FAIL (${why.join(', ')})`}${genCpu}`);
      if (ok) best = rate;
      else {
        failedAt = rate;
        // Let the backlog drain before the next step; give up if it does not.
        if (!(await until(() => s.caughtUp(), 120_000))) break;
      }
      if (failedAt === Infinity) rate *= 1.5;
      else if (best === 0) rate /= 2;
      else if (failedAt - best < best * 0.1) break;
      else rate = (best + failedAt) / 2;
    }
    const fmt = (n: number): string => `${Math.round(n).toLocaleString('en-US')} spans/s`;
    figure.set(kind.label, best ? `${fmt(best)}${failedAt === Infinity ? ' (no step failed)' : ''}` : failedAt === Infinity ? 'no step ran' : `< ${fmt(failedAt)}`);
  });
}

async function measureMemory(kind: SamplerKind, sink: Sink, o: PeerOptions, f: Figures): Promise<void> {
  sink.reset(undefined, 0, false);
  const maxPending = o.pendingSpans.at(-1)!;
  const hour = 3600;
  await withSampler(kind, { wait: hour, numTraces: Math.ceil((maxPending / SPANS_PER_TRACE) * 1.2) + 1000 }, async (s) => {
    let peak = rssMiB(s.pid);
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssMiB(s.pid));
      } catch {
        // exited
      }
    }, 250);
    try {
      let sent = 0;
      for (const target of o.pendingSpans) {
        const r = await replay(s.http, { rate: 0, spans: target - sent, concurrency: 4, retry: true, prefix: randomBytes(8).toString('hex') }, 1_800_000);
        sent += r.spans;
        const caughtUp = await until(() => s.caughtUp(), 900_000, 500);
        const decided = await s.decided();
        const rss = rssMiB(s.pid);
        peak = Math.max(peak, rss);
        let row = f.pending.get(target);
        if (!row) f.pending.set(target, (row = new Map<string, string>()));
        row.set(kind.label, `${rss.toFixed(0)} MiB`);
        log(
          `[${kind.label}] memory: ${sent} spans pending (loaded at ${r.spansPerSecond} spans/s${r.refusedSpans ? `, ${r.refusedSpans} refused` : ''}), RSS ${rss.toFixed(0)} MiB, ` +
            `peak so far ${peak.toFixed(0)} MiB${caughtUp ? '' : ' (NOT caught up)'}${decided ? `, ${decided} traces decided (expected none)` : ''}`,
        );
      }
      f.peak.set(kind.label, `${peak.toFixed(0)} MiB`);
    } finally {
      clearInterval(sampler);
    }
  });
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function measureLag(kind: SamplerKind, sink: Sink, o: PeerOptions, f: Figures): Promise<void> {
  const prefix = randomBytes(8).toString('hex');
  const dir = tempDir('tailsampler-peer-lag-');
  try {
    sink.reset(prefix, o.lagTraces);
    await withSampler(kind, { wait: o.wait, numTraces: 1_000_000 }, async (s) => {
      const file = join(dir, 'send-times.bin');
      const r = await replay(s.http, { rate: o.lagRate, spans: o.lagTraces * SPANS_PER_TRACE, prefix, 'send-times': file }, ((o.lagTraces * SPANS_PER_TRACE) / o.lagRate + 120) * 1000);
      let last = -1;
      let still = 0;
      await until(async () => {
        if (sink.traces >= r.interestingTraces) return true;
        still = sink.spans === last ? still + 1 : 0;
        last = sink.spans;
        return still >= 40 && sink.traces > 0;
      }, (o.wait + 3 * o.commitSecs + 120) * 1000);
      const sent = new Float64Array(new Uint8Array(readFileSync(file)).buffer);
      const lags: number[] = [];
      for (let c = 0; c < sent.length; c++) {
        const at = sink.arrivedAt(c);
        if (at > 0) lags.push((at - sent[c]!) / 1000);
      }
      const sorted = Float64Array.from(lags).sort();
      if (sorted.length === 0) {
        f.notes.push(`${kind.label}, lag run: no kept trace reached the sink`);
        return;
      }
      f.lag50.set(kind.label, `${percentile(sorted, 50).toFixed(2)} s`);
      f.lag99.set(kind.label, `${percentile(sorted, 99).toFixed(2)} s`);
      log(
        `[${kind.label}] lag: ${r.traces} traces at ${r.spansPerSecond} spans/s, ${sorted.length} of ${r.interestingTraces} kept traces at the sink; ` +
          `sent → at sink p50 ${percentile(sorted, 50).toFixed(2)} s, p99 ${percentile(sorted, 99).toFixed(2)} s, max ${sorted.at(-1)!.toFixed(2)} s`,
      );
      if (sorted.length !== r.interestingTraces) f.notes.push(`${kind.label}, lag run: ${sorted.length} of ${r.interestingTraces} kept traces reached the sink`);
    });
  } finally {
    removeDir(dir);
  }
}


function ratio(a: string | undefined, b: string | undefined): string {
  const x = Number.parseFloat((a ?? '').replaceAll(',', ''));
  const y = Number.parseFloat((b ?? '').replaceAll(',', ''));
  if (!Number.isFinite(x) || !Number.isFinite(y) || y === 0 || (a ?? '').startsWith('<') || (b ?? '').startsWith('<')) return '—';
  return `${(x / y).toFixed(2)}×`;
}

function table(f: Figures, peer: string, ours: string[], o: PeerOptions): string {
  const m = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}K`);
  const rows: [string, Row][] = [];
  if (f.cpu.size) rows.push([`CPU seconds per million spans (telemetrygen, ${o.rate.toLocaleString('en-US')} spans/s offered; lower is better)`, f.cpu]);
  if (f.steady.size) rows.push([`CPU seconds per million spans in steady state (the same load, from ${STEADY_FROM_SECS} s into it to its end)`, f.steady]);
  if (f.idle.size) rows.push(['CPU while idle, before the load (% of one core)', f.idle]);
  if (f.ingest.size) rows.push(['highest sustained ingest, nothing refused or dropped, caught up (replay; higher is better)', f.ingest]);
  if (f.ingestTelemetrygen.size) rows.push(['highest sustained ingest, the same, with telemetrygen on the same cores (higher is better)', f.ingestTelemetrygen]);
  for (const [n, row] of f.pending) rows.push([`RSS with ${m(n)} spans pending`, row]);
  if (f.peak.size) rows.push([`peak RSS while loading ${m(o.pendingSpans.at(-1)!)} pending spans`, f.peak]);
  if (f.lag50.size) rows.push([`decision lag p50, last span sent → kept trace at the sink (wait ${o.wait} s)`, f.lag50]);
  if (f.lag99.size) rows.push([`decision lag p99`, f.lag99]);
  const head = ['figure', peer, ...ours.flatMap((l) => [l, `${l.replace('tailsampler ', '')} ÷ otelcol`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const [name, row] of rows) lines.push(`| ${[name, row.get(peer) ?? '—', ...ours.flatMap((l) => [row.get(l) ?? '—', ratio(row.get(l), row.get(peer))])].join(' | ')} |`);
  return lines.join('\n');
}


async function buildTools(): Promise<{ otelcol: string; telemetrygen: string; otelcolVersion: string; telemetrygenVersion: string }> {
  const path = async (script: string, args: string[] = []): Promise<string> => {
    const { stdout } = await run('bash', [join(REPO, 'scripts', script), ...args], { maxBuffer: 1 << 20, timeout: 30 * 60_000 });
    const p = stdout.trim().split('\n').at(-1);
    if (!p) throw new Error(`${script} printed no path`);
    return p;
  };
  log('building / finding the peer Collector and telemetrygen (cached after the first run)');
  const otelcol = await path('ensure-otelcol.sh', [MANIFEST]);
  const telemetrygen = await path('ensure-telemetrygen.sh');
  const version = (await run(otelcol, ['--version'])).stdout.trim();
  const go = (await run('go', ['version', otelcol]).then((r) => /go[\d.]+/.exec(r.stdout)?.[0], () => undefined)) ?? 'go ?';
  return { otelcol, telemetrygen, otelcolVersion: `${version} built with ${go}`, telemetrygenVersion: /telemetrygen-(v[\d.]+)/.exec(telemetrygen)?.[1] ?? '?' };
}

export async function runPeerOtelcol(o: PeerOptions): Promise<void> {
  let infra: KafkaGarage | undefined;
  // The REST catalog fixture of the Kafka path runs in its own process group: stop it on ^C too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      void (infra?.close() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const tools = await buildTools();
  const sink = new Sink();
  await sink.start();
  const scratch = tempDir('tailsampler-peer-');
  shareReplayTemplates(join(scratch, 'replay-templates.json'));
  try {
    const kinds: SamplerKind[] = [otelcolKind(tools.otelcol, sink, o)];
    if (o.path !== 'kafka') kinds.push(tailsamplerKind('tailsampler embedded', sink, o, () => ({})));
    if (o.path !== 'embedded') {
      const missing = await missingKafkaGarage();
      if (missing.length > 0) {
        console.log(`  [peer] Kafka + Garage path skipped: ${missing.join(' and ')} not running (start them with \`bash scripts/infra.sh up kafka garage\`; this benchmark does not start shared components)`);
      } else {
        infra = await startKafkaGarage();
        const i = infra;
        kinds.push(tailsamplerKind('tailsampler kafka', sink, o, () => i.serviceConfig()));
      }
    }
    const c = cpus();
    console.log(
      `machine: ${c.length} × ${c[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}; Node ${process.version}; ` +
        `${tools.otelcolVersion} (contrib tailsamplingprocessor, bench/otelcol-peer/builder.yaml); telemetrygen ${tools.telemetrygenVersion}; ` +
        `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`,
    );
    console.log(
      `setup: policies status_code ERROR + latency > ${o.latencyMs} ms, decision_wait = inactivity_threshold_secs = ${o.wait} s; tailsampler commit ${o.commitSecs} s, scan ${o.scanSecs} s; ` +
        `OTLP/HTTP in and out (no compression), one sink in the bench process; ${SPANS_PER_TRACE}-span traces, ${ERROR_SHARE * 100}% ERROR, ${SLOW_SHARE * 100}% slow`,
    );
    const f: Figures = { cpu: new Map(), steady: new Map(), idle: new Map(), ingest: new Map(), ingestTelemetrygen: new Map(), pending: new Map(), peak: new Map(), lag50: new Map(), lag99: new Map(), notes: [] };
    const want = (m: Measurement): boolean => o.only === undefined || o.only === m;
    // Measurement by measurement, each sampler in turn: noise that changes over time hits both alike.
    for (const kind of kinds) if (want('cpu')) await measureCpu(kind, tools.telemetrygen, sink, o, f);
    for (const kind of kinds) if (want('lag')) await measureLag(kind, sink, o, f);
    for (const kind of kinds) if (want('ingest')) await measureIngest(kind, replayGenerator, sink, o, f.ingest);
    const tg = telemetrygenGenerator(tools.telemetrygen, o.latencyMs);
    for (const kind of kinds) if (want('ingest')) await measureIngest(kind, tg, sink, o, f.ingestTelemetrygen);
    for (const kind of kinds) if (want('memory')) await measureMemory(kind, sink, o, f);
    console.log('');
    console.log(table(f, kinds[0]!.label, kinds.slice(1).map((k) => k.label), o));
    for (const n of f.notes) console.log(`note: ${n}`);
    console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
  } finally {
    await infra?.close();
    await sink.close();
    removeDir(scratch);
  }
}

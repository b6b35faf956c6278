import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const BIN = fileURLToPath(new URL('../../bin/tailsampler.js', import.meta.url));

/**
 * A config file for an embedded service under `dir` listening on ports the OS picks (`127.0.0.1:0`),
 * with `telemetry` and any further YAML appended; returns its path.
 */
export function writeEmbeddedConfig(dir: string, telemetry: string, extra = ''): string {
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    `receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }
spool: { local: { dir: ${join(dir, 'spool')} } }
storage: { catalog: { uri: ${join(dir, 'catalog.db')}, warehouse: ${join(dir, 'warehouse')} } }
query: { state_dir: ${join(dir, 'state')} }
telemetry: ${telemetry}
${extra}`,
  );
  return path;
}

/** Ports `freePort` handed out in this process: the OS may offer a port it just released again. */
const handedOut = new Set<number>();

/**
 * A port free right now on 127.0.0.1 (the OS picks it; we release it for the child to bind), never one
 * this process was given before: a service's gRPC, HTTP and telemetry ports, picked one after another,
 * once came out the same and the service could not start.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${String(last)}` : last === undefined ? '' : `: ${JSON.stringify(last)}`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ServiceProcess {
  pid: number;
  dir: string;
  grpc: string;
  http: string;
  telemetry: string;
  configPath: string;
  /** stdout+stderr so far (pino JSON lines). */
  output(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

export interface ServiceOptions {
  dir?: string;
  /** Sections merged over the test defaults (fast intervals, temp dirs, ports). */
  config: Record<string, unknown>;
  ports?: { grpc: number; http: number; telemetry: number };
}

/** Writes a config file and starts `tailsampler start --config` as a child process; resolves when /readyz says ready. */
export async function startService(options: ServiceOptions): Promise<ServiceProcess> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'tailsampler-e2e-'));
  const ports = options.ports ?? { grpc: await freePort(), http: await freePort(), telemetry: await freePort() };
  const config = {
    receivers: { otlp: { grpc: { endpoint: `127.0.0.1:${ports.grpc}` }, http: { endpoint: `127.0.0.1:${ports.http}` } } },
    spool: { type: 'local', local: { dir: join(dir, 'spool') } },
    storage: {
      catalog: { type: 'sql', uri: join(dir, 'catalog.db'), warehouse: join(dir, 'warehouse') },
      commit_interval_secs: 1,
    },
    query: { scan_interval_secs: 1, inactivity_threshold_secs: 3, max_trace_age_secs: 120, state_dir: join(dir, 'state') },
    telemetry: { endpoint: `127.0.0.1:${ports.telemetry}`, log_level: 'info' },
  };
  merge(config, options.config);
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, stringify(config));
  const child: ChildProcess = spawn(process.execPath, [BIN, 'start', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let dead = false;
  void exited.then(() => (dead = true)); // exited only ever resolves (on 'exit'): nothing to handle
  const telemetry = `http://127.0.0.1:${ports.telemetry}`;
  await waitFor('service readiness', async () => {
    if (dead) throw new Error(`service exited during start:\n${output}`);
    const res = await fetch(`${telemetry}/readyz`);
    return res.ok;
  }, 60_000).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n--- service output ---\n${output}`);
  });
  return {
    pid: child.pid!,
    dir,
    grpc: `127.0.0.1:${ports.grpc}`,
    http: `http://127.0.0.1:${ports.http}`,
    telemetry,
    configPath,
    output: () => output,
    async stop() {
      if (dead) return exited;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (!dead) child.kill('SIGKILL');
      await exited;
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(`${telemetry}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z0-9_]+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const l = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) sum += Number(m[3]);
      }
      return sum;
    },
  };
}

/** Deep-merges `over` into `base` (objects merge, everything else replaces). */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && b !== null && typeof b === 'object' && !Array.isArray(b)) {
      merge(b as Record<string, unknown>, v as Record<string, unknown>);
    } else base[k] = v;
  }
}

/** Runs the readers' python script (with `env` added to this process's) and parses its JSON output. */
export async function runPython(script: string, args: string[], env: Record<string, string> = {}): Promise<unknown> {
  const python = process.env.TAILSAMPLER_PYTHON;
  if (!python) throw new Error('TAILSAMPLER_PYTHON is not set: run through `npm test`, or set it to the output of scripts/ensure-python.sh');
  return new Promise((resolve, reject) => {
    const p = spawn(python, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${script} exited ${code}:\n${err}`));
      else resolve(JSON.parse(out));
    });
  });
}

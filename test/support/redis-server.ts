import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from './service.ts';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * A redis-server of a test's own (not the shared one), for tests that kill and restart Redis. It
 * persists with an append-only file fsynced on every write, so what it acknowledged survives a
 * SIGKILL. The binary is the one scripts/infra/redis.sh uses: redis-server from PATH, else the
 * Debian package it unpacked under $TAILSAMPLER_CACHE/redis-deb.
 */
export class OwnRedis {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcess | null = null;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  static async start(dir: string): Promise<OwnRedis> {
    const r = new OwnRedis(await freePort(), dir);
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const { bin, libs } = redisBinary();
    const args = ['--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir, '--daemonize', 'no', '--logfile', ''];
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LD_LIBRARY_PATH: libs } });
    this.#child = child;
    const deadline = Date.now() + 15_000;
    while (!(await ping(this.port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer PING`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL: no shutdown save; only the fsynced append-only file survives. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

function redisBinary(): { bin: string; libs: string } {
  for (const d of (process.env.PATH ?? '').split(delimiter)) if (d !== '' && existsSync(join(d, 'redis-server'))) return { bin: join(d, 'redis-server'), libs: '' };
  const root = join(process.env.TAILSAMPLER_CACHE ?? join(homedir(), '.cache', 'tailsampler'), 'redis-deb');
  const bin = join(root, 'usr', 'bin', 'redis-server');
  if (!existsSync(bin)) throw new Error(`no redis-server (looked on PATH and at ${bin}); run: bash scripts/infra.sh up redis`);
  return { bin, libs: [join(root, 'usr/lib/x86_64-linux-gnu'), join(root, 'usr/lib/aarch64-linux-gnu')].join(':') };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    sock.setTimeout(1000, () => sock.destroy());
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) {
        sock.destroy();
        resolve(data.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
    sock.on('close', () => resolve(data.startsWith('+PONG')));
  });
}

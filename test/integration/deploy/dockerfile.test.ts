/**
 * The Dockerfile, without a container engine (none here): its instructions are parsed and carried out
 * as far as this machine allows. The build stage's COPYs and `npm` RUN steps run in a temp dir (the
 * apt-get step installs npm and CA certificates, which this machine has), the runtime stage's
 * `COPY --from=build` lay out a root file system under a temp dir, and the service is started from it
 * with the image's ENTRYPOINT + CMD (tini left out), the data volume at TAILSAMPLER_DATA, until the
 * image's own HEALTHCHECK command passes. A step that breaks (a file not copied, a dependency missing
 * with --omit=dev, a wrong path in ENTRYPOINT or CMD, a config that writes outside the volume) fails it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../support/service.ts';

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  instructions: Instruction[];
}

/** Stages and their instructions; `\` continuations joined, comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line not understood: ${line}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      stages.push({ name: /\s+AS\s+(\S+)$/i.exec(args)?.[1] ?? String(stages.length), instructions: [] });
      continue;
    }
    assert.ok(stages.length > 0, 'instruction before FROM');
    stages.at(-1)!.instructions.push({ op, args });
  }
  return stages;
}

const all = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args);
const one = (stage: Stage, op: string) => {
  const found = all(stage, op);
  assert.equal(found.length, 1, `one ${op} in stage ${stage.name}`);
  return found[0]!;
};
const execForm = (args: string) => JSON.parse(args) as string[];


test('the runtime stage: non-root, a data volume, the OTLP and telemetry ports, a health check on /healthz', async () => {
  const stages = parseDockerfile(await readFile(join(REPO, 'Dockerfile'), 'utf8'));
  assert.ok(stages.length >= 2, 'multi-stage');
  const runtime = stages.at(-1)!;
  const user = one(runtime, 'USER').split(':')[0]!;
  assert.ok(user !== 'root' && user !== '0', `USER ${user} is not root`);
  assert.deepEqual(one(runtime, 'EXPOSE').split(/\s+/).sort(), ['4317', '4318', '8888']);
  const volume = one(runtime, 'VOLUME');
  assert.match(one(runtime, 'ENV'), new RegExp(`TAILSAMPLER_DATA=${volume}(\\s|$)`), 'the default config writes under the volume');
  assert.match(one(runtime, 'HEALTHCHECK'), /CMD \[.*\/healthz/);
  assert.ok(!all(runtime, 'RUN').some((r) => /\bnpm\b/.test(r)), 'no npm in the runtime stage');
});

test('the image built and started from its own instructions answers its HEALTHCHECK', { timeout: 10 * 60_000 }, async () => {
  const stages = parseDockerfile(await readFile(join(REPO, 'Dockerfile'), 'utf8'));
  const build = stages[0]!;
  const runtime = stages.at(-1)!;
  const tmp = await mkdtemp(join(tmpdir(), 'tailsampler-dockerfile-'));
  const buildRoot = join(tmp, 'build');
  const rootfs = join(tmp, 'rootfs');
  const inside = (root: string, workdir: string, path: string) => join(root, path.startsWith('/') ? path : join(workdir, path));
  let child: ReturnType<typeof spawn> | undefined;
  try {
    // Build stage: COPY from the repository, RUN the npm steps (the apt-get one only installs npm).
    let workdir = '/';
    for (const { op, args } of build.instructions) {
      if (op === 'WORKDIR') workdir = args;
      else if (op === 'COPY') {
        const parts = args.split(/\s+/);
        assert.ok(!parts[0]!.startsWith('--'), `build COPY with flags: ${args}`);
        const dest = inside(buildRoot, workdir, parts.at(-1)!);
        for (const src of parts.slice(0, -1)) {
          const target = parts.length > 2 || dest.endsWith('/') ? join(dest, src.split('/').at(-1)!) : dest;
          await mkdir(dirname(target), { recursive: true });
          await cp(join(REPO, src), target, { recursive: true });
        }
      } else if (op === 'RUN' && /^npm\s/.test(args)) {
        await execFileAsync('bash', ['-c', args], { cwd: inside(buildRoot, workdir, '.'), timeout: 8 * 60_000, maxBuffer: 16 << 20 });
      } else if (op === 'RUN') {
        assert.match(args, /^apt-get /, `a build RUN step this test does not know how to run: ${args}`);
      }
    }

    // Runtime stage: only what COPY --from=build brings.
    workdir = '/';
    const env: Record<string, string> = {};
    for (const { op, args } of runtime.instructions) {
      if (op === 'WORKDIR') workdir = args;
      else if (op === 'ENV') for (const [, k, v] of args.matchAll(/(\w+)=(\S+)/g)) env[k!] = v!;
      else if (op === 'COPY') {
        const m = /^--from=(\S+)\s+(\S+)\s+(\S+)$/.exec(args);
        assert.ok(m && m[1] === build.name, `runtime COPY only from the build stage: ${args}`);
        const target = inside(rootfs, workdir, m[3]!);
        await mkdir(dirname(target), { recursive: true });
        await cp(inside(buildRoot, '/', m[2]!), target, { recursive: true });
      }
    }

    // Paths inside the image → under rootfs; the volume → a temp data dir; tini left out.
    const volume = one(runtime, 'VOLUME');
    const data = join(tmp, 'data');
    await mkdir(data);
    const mapPath = (a: string) => (a === volume ? data : a.startsWith('/') && !a.startsWith('/usr/bin/') ? join(rootfs, a) : a);
    const command = [...execForm(one(runtime, 'ENTRYPOINT')), ...execForm(one(runtime, 'CMD'))];
    const tini = command.indexOf('--');
    const argv = (tini >= 0 && /tini$/.test(command[0]!) ? command.slice(tini + 1) : command).map(mapPath);

    // The image's config listens on fixed ports; other services on this machine may hold them.
    const [grpc, http, telemetry] = [await freePort(), await freePort(), await freePort()];
    const configPath = argv[argv.indexOf('--config') + 1]!;
    const config = await readFile(configPath, 'utf8');
    assert.match(config, /0\.0\.0\.0:8888/, 'the image config serves telemetry on 8888');
    await writeFile(
      configPath,
      config.replace('0.0.0.0:4317', `127.0.0.1:${grpc}`).replace('0.0.0.0:4318', `127.0.0.1:${http}`).replace('0.0.0.0:8888', `127.0.0.1:${telemetry}`),
    );

    const log: string[] = [];
    child = spawn(argv[0]!, argv.slice(1), {
      cwd: inside(rootfs, workdir, '.'),
      env: { PATH: process.env.PATH ?? '', ...env, TAILSAMPLER_DATA: data },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => log.push(c.toString()));
    child.stderr!.on('data', (c: Buffer) => log.push(c.toString()));
    const exited = new Promise<number | null>((res) => child!.once('exit', (code) => res(code)));

    // The image's own HEALTHCHECK command, with its port moved like the config's.
    const health = execForm(one(runtime, 'HEALTHCHECK').replace(/^.*?CMD\s+/, '')).map((a) => mapPath(a.replace(':8888/', `:${telemetry}/`)));
    const deadline = Date.now() + 60_000;
    let healthy = false;
    while (!healthy) {
      if (child.exitCode !== null) assert.fail(`the service exited with ${child.exitCode}:\n${log.join('').slice(-4000)}`);
      if (Date.now() > deadline) assert.fail(`HEALTHCHECK never passed:\n${log.join('').slice(-4000)}`);
      healthy = await execFileAsync(health[0]!, health.slice(1), { timeout: 5_000 }).then(
        () => true,
        () => false,
      );
      if (!healthy) await new Promise((r) => setTimeout(r, 250));
    }

    // Everything the service writes lands in the volume.
    const written = await readdir(data);
    for (const d of ['spool', 'state', 'warehouse']) assert.ok(written.includes(d), `${d} under TAILSAMPLER_DATA (got ${written.join(', ')})`);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, `clean shutdown:\n${log.join('').slice(-2000)}`);
    child = undefined;
  } finally {
    child?.kill('SIGKILL');
    await rm(tmp, { recursive: true, force: true });
  }
});

/**
 * The k3s manifests in deploy/: every file passes the Kubernetes API schemas (kubernetes-validate from
 * PyPI, its schemas shipped in the package, strict: unknown fields refused), every tailsampler config
 * embedded in a ConfigMap passes `tailsampler validate` with the environment its container would get
 * (env values, Secret keys; a `${VAR}` nothing sets fails), and the wiring schemas cannot see holds:
 * selectors match pods, named ports exist, probes hit /healthz and /readyz on the telemetry port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments, parse } from 'yaml';

const execFileAsync = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../../..');
const DEPLOY = join(REPO, 'deploy');
const BIN = join(REPO, 'bin/tailsampler.js');

// A loose view of the Kubernetes objects: the schemas are checked by kubernetes-validate, these types
// only name what the wiring checks below read.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  envFrom?: { secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } | Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    ports?: { name: string; port: number; targetPort?: string | number }[];
  };
}
interface Manifest {
  file: string;
  objects: K8sObject[];
}

async function loadManifests(): Promise<Manifest[]> {
  const files = (await readdir(DEPLOY)).filter((f) => f.endsWith('.yaml')).sort();
  const out: Manifest[] = [];
  for (const file of files) {
    const docs = parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8'));
    const objects: K8sObject[] = [];
    for (const doc of docs) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      const value = doc.toJS() as K8sObject | null;
      if (value !== null) objects.push(value);
    }
    out.push({ file, objects });
  }
  return out;
}

const isWorkload = (o: K8sObject) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind);
const podContainers = (spec: PodSpec) => [...(spec.initContainers ?? []), ...spec.containers];
const isTailsampler = (c: Container) => /(^|\/)tailsampler(:|@|$)/.test(c.image);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

async function kubernetesValidate(): Promise<string> {
  const fromEnv = process.env.TAILSAMPLER_KUBERNETES_VALIDATE;
  if (fromEnv) return fromEnv;
  const { stdout } = await execFileAsync('bash', [join(REPO, 'scripts/ensure-kubernetes-validate.sh')], { timeout: 10 * 60_000 });
  return stdout.trim().split('\n').at(-1)!;
}

test('deploy/ has the manifests the README describes', async () => {
  const files = (await loadManifests()).map((m) => m.file);
  for (const f of ['tailsampler.yaml', 'tailsampler-embedded.yaml', 'sidecar.yaml', 'lakekeeper.yaml', 'garage.yaml', 'redis.yaml', 'tailsampler-unity-catalog.yaml']) {
    assert.ok(files.includes(f), `deploy/${f} missing`);
  }
});

test('every manifest passes the Kubernetes API schemas (strict)', async () => {
  const bin = await kubernetesValidate();
  for (const { file, objects } of await loadManifests()) {
    // Exit 1 on a schema error; an unknown kind or apiVersion only warns, so each object must be
    // reported as passed by name.
    const r = await execFileAsync(bin, ['--strict', join(DEPLOY, file)]).catch((e: { stdout: string; stderr: string }) => {
      assert.fail(`kubernetes-validate ${file}:\n${e.stdout}${e.stderr}`);
    });
    const out = r.stdout + r.stderr;
    assert.doesNotMatch(out, /WARN|ERROR/, `${file}:\n${out}`);
    for (const o of objects) {
      const id = `${o.kind.toLowerCase()}/${o.metadata.name}`;
      assert.ok(out.includes(`passed for resource ${id} `), `${file}: ${id} not reported as passed:\n${out}`);
    }
  }
});

test('the schema check would catch a broken manifest', async () => {
  const bin = await kubernetesValidate();
  const dir = await mkdtemp(join(tmpdir(), 'tailsampler-k8s-'));
  try {
    const text = await readFile(join(DEPLOY, 'tailsampler.yaml'), 'utf8');
    await writeFile(join(dir, 'broken.yaml'), text.replace('replicas: 2', 'replicas: two'));
    await assert.rejects(execFileAsync(bin, ['--strict', join(dir, 'broken.yaml')]), (e: { stdout: string }) => {
      assert.match(e.stdout, /deployment\/tailsampler.*spec\.replicas: 'two' is not of type 'integer'/);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('every tailsampler container is wired to a config that `tailsampler validate` accepts', async () => {
  const manifests = await loadManifests();
  const all = manifests.flatMap((m) => m.objects.map((o) => ({ file: m.file, o })));
  const dir = await mkdtemp(join(tmpdir(), 'tailsampler-deploy-config-'));
  let validated = 0;
  try {
    for (const { file, o } of all) {
      if (!isWorkload(o) || !o.spec?.template) continue;
      const pod = o.spec.template.spec;
      for (const c of podContainers(pod).filter(isTailsampler)) {
        const where = `${file} ${o.kind}/${o.metadata.name} container ${c.name}`;
        const args = c.args ?? [];
        assert.equal(args[0], 'start', `${where}: args start with "start"`);
        const configPath = args[args.indexOf('--config') + 1];
        assert.ok(args.includes('--config') && configPath, `${where}: --config FILE`);
        const mount = (c.volumeMounts ?? []).find((m) => configPath.startsWith(`${m.mountPath}/`));
        assert.ok(mount, `${where}: nothing mounted at ${configPath}`);
        const cmName = pod.volumes?.find((v) => v.name === mount.name)?.configMap?.name;
        assert.ok(cmName, `${where}: ${mount.mountPath} is not a ConfigMap volume`);
        const key = mount.subPath ?? configPath.slice(mount.mountPath.length + 1);
        // Every ConfigMap of that name (an overlay such as the Unity Catalog one replaces the default),
        // with the Secrets of its own file first, then those of the others.
        const configMaps = all.filter((x) => x.o.kind === 'ConfigMap' && x.o.metadata.name === cmName);
        assert.ok(configMaps.length > 0, `${where}: ConfigMap ${cmName} not in deploy/`);
        for (const cm of configMaps) {
          const text = cm.o.data?.[key];
          assert.ok(text, `${cm.file} ConfigMap ${cmName}: no key ${key}`);
          const secret = (name: string) =>
            all.filter((x) => x.o.kind === 'Secret' && x.o.metadata.name === name).sort((a, b) => Number(b.file === cm.file) - Number(a.file === cm.file))[0]?.o;
          const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
          for (const ref of c.envFrom ?? []) {
            if (ref.secretRef) Object.assign(env, secret(ref.secretRef.name)?.stringData ?? {});
          }
          for (const e of c.env ?? []) {
            if (e.value !== undefined) env[e.name] = e.value;
            else if (e.valueFrom?.fieldRef) env[e.name] = `field-${e.valueFrom.fieldRef.fieldPath.replace(/\W/g, '-')}`;
            else if (e.valueFrom?.secretKeyRef) {
              const { name, key: k } = e.valueFrom.secretKeyRef;
              // A Secret the operator creates (garage-s3: the key `garage key create` prints) stands in
              // with a placeholder; one in deploy/ must hold the key.
              const s = secret(name);
              if (s) assert.ok(s.stringData?.[k] !== undefined, `${where}: Secret ${name} has no key ${k}`);
              env[e.name] = s?.stringData?.[k] ?? `placeholder-${k}`;
            }
          }
          const path = join(dir, `${cm.file}-${cmName}-${key}`);
          await writeFile(path, text);
          const r = await execFileAsync(process.execPath, [BIN, 'validate', '--config', path], { env }).catch(
            (e: { stdout: string; stderr: string }) => assert.fail(`${cm.file} ConfigMap ${cmName} for ${where}:\n${e.stderr}${e.stdout}`),
          );
          assert.match(r.stdout, /valid/);
          validated++;

          // The probes reach the service's own endpoint on the port its config listens on.
          const config = parse(text) as { telemetry?: { endpoint?: string } };
          const telemetryPort = Number((config.telemetry?.endpoint ?? '0.0.0.0:8888').split(':').at(-1));
          for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
            const get = c[probe]?.httpGet;
            assert.equal(get?.path, path, `${where}: ${probe} path`);
            const port = typeof get.port === 'number' ? get.port : c.ports?.find((p) => p.name === get.port)?.containerPort;
            assert.equal(port, telemetryPort, `${where}: ${probe} port`);
          }
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // tailsampler.yaml (+ the Unity overlay of its ConfigMap), tailsampler-embedded.yaml, sidecar.yaml.
  assert.equal(validated, 4, 'configs validated');
});

test('the replicated Deployment shares one Kafka consumer group across ≥ 2 replicas behind a PDB', async () => {
  const m = (await loadManifests()).find((x) => x.file === 'tailsampler.yaml')!;
  const deployment = m.objects.find((o) => o.kind === 'Deployment')!;
  assert.ok((deployment.spec?.replicas ?? 1) >= 2, 'replicas');
  const config = parse(m.objects.find((o) => o.kind === 'ConfigMap')!.data!['config.yaml']!) as {
    spool: { type: string; kafka: { group_id: string } };
    storage: { catalog: { type: string; headers: Record<string, string> } };
  };
  assert.equal(config.spool.type, 'kafka');
  assert.equal(config.spool.kafka.group_id, 'tailsampler', 'one fixed group for every replica');
  assert.equal(config.storage.catalog.type, 'rest');
  assert.ok('x-project-id' in config.storage.catalog.headers, 'Lakekeeper project header');
  const pdb = m.objects.find((o) => o.kind === 'PodDisruptionBudget');
  assert.ok(pdb, 'PodDisruptionBudget');
  const service = m.objects.find((o) => o.kind === 'Service')!;
  assert.deepEqual(service.spec?.ports?.map((p) => p.port).sort(), [4317, 4318, 8888]);
});

test('every Service and PodDisruptionBudget selects pods of its file, on ports those pods name', async () => {
  for (const { file, objects } of await loadManifests()) {
    const pods = objects.filter(isWorkload).map((o) => o.spec!.template!);
    for (const o of objects.filter((x) => x.kind === 'Service' || x.kind === 'PodDisruptionBudget')) {
      const where = `${file} ${o.kind}/${o.metadata.name}`;
      const sel = (o.kind === 'Service' ? o.spec?.selector : (o.spec?.selector as { matchLabels?: Record<string, string> }).matchLabels) as Record<string, string>;
      const selected = pods.filter((p) => matches(sel, p.metadata.labels));
      assert.ok(selected.length > 0, `${where}: selects no pod`);
      for (const port of o.kind === 'Service' ? (o.spec?.ports ?? []) : []) {
        if (typeof port.targetPort !== 'string') continue;
        const named = selected.some((p) => podContainers(p.spec).some((c) => c.ports?.some((cp) => cp.name === port.targetPort)));
        assert.ok(named, `${where}: targetPort ${port.targetPort} is no container port`);
      }
    }
  }
});

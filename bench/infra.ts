/**
 * The real components the Kafka + Garage bench path needs, and how to leave them as they were found:
 * Kafka and Garage are the shared ones of `scripts/infra.sh` (started here only when not already
 * running, and then stopped again). The Iceberg REST catalog is a private fixture on a free port with
 * its warehouse under a fresh prefix of Garage's bucket, always started and stopped here: the shared
 * one may hold another warehouse, and asking it for ours would restart it under whoever uses it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Admin } from '@platformatic/kafka';
import { configSchema } from '../src/config/schema.ts';
import { s3ClientConfig, s3OptionsFromConfig } from '../src/lake/s3-file-io.ts';
import { infraEnv } from '../test/support/infra.ts';
import { freePort } from '../test/support/service.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** `bash scripts/infra.sh <cmd> <component>` with extra env; `up` prints `export K=V` lines. */
async function infra(cmd: 'up' | 'down', component: string, env: Record<string, string> = {}): Promise<Record<string, string>> {
  const { stdout } = await run('bash', ['scripts/infra.sh', cmd, component], { cwd: REPO, env: { ...process.env, ...env } });
  return Object.fromEntries([...stdout.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** A component counts as running when its env file exists and its endpoint accepts connections. */
async function running(component: 'kafka' | 'garage', endpointKey: string): Promise<boolean> {
  let endpoint: string;
  try {
    endpoint = infraEnv(component)[endpointKey]!;
  } catch {
    return false;
  }
  const [host, port] = endpoint.replace(/^\w+:\/\//, '').split(',')[0]!.split(':');
  return new Promise((resolve) => {
    const s = connect(Number(port), host, () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * The shared components of the Kafka path that are not running now (empty: all are). For callers
 * that must not start them (`--peer otelcol` skips the path instead).
 */
export async function missingKafkaGarage(): Promise<string[]> {
  const missing: string[] = [];
  for (const [component, key] of [['kafka', 'TAILSAMPLER_KAFKA_BROKERS'], ['garage', 'TAILSAMPLER_S3_ENDPOINT']] as const) {
    if (!(await running(component, key))) missing.push(component);
  }
  return missing;
}

export interface KafkaGarage {
  /** Config sections for one service run: a fresh topic, consumer group and table each call. */
  serviceConfig(): { spool: Record<string, unknown>; storage: Record<string, unknown> };
  /** Deletes the topics of the runs so far. */
  deleteTopics(): Promise<void>;
  /** Deletes the bench's objects, stops the REST fixture and whatever this started. */
  close(): Promise<void>;
}

export async function startKafkaGarage(): Promise<KafkaGarage> {
  const started: string[] = [];
  const env: Record<string, string> = {};
  const id = randomBytes(4).toString('hex');
  const prefix = `bench-${id}`;
  const restEnv: Record<string, string> = { TAILSAMPLER_INFRA_DIR: mkdtempSync(join(tmpdir(), 'tailsampler-bench-rest-')) };
  const stop = async (): Promise<void> => {
    await infra('down', 'iceberg-rest', restEnv);
    rmSync(restEnv.TAILSAMPLER_INFRA_DIR!, { recursive: true, force: true });
    for (const component of started.reverse()) await infra('down', component);
  };
  let rest: Record<string, string>;
  try {
    for (const [component, key] of [['kafka', 'TAILSAMPLER_KAFKA_BROKERS'], ['garage', 'TAILSAMPLER_S3_ENDPOINT']] as const) {
      if (!(await running(component, key))) started.push(component);
      Object.assign(env, await infra('up', component));
    }
    Object.assign(restEnv, env, {
      TAILSAMPLER_ICEBERG_REST_PORT: String(await freePort()),
      TAILSAMPLER_ICEBERG_REST_WAREHOUSE: `s3://${env.TAILSAMPLER_S3_BUCKET}/${prefix}`,
    });
    rest = await infra('up', 'iceberg-rest', restEnv);
  } catch (e) {
    await stop();
    throw e;
  }
  const bucket = env.TAILSAMPLER_S3_BUCKET!;
  const s3 = {
    endpoint: env.TAILSAMPLER_S3_ENDPOINT,
    region: env.TAILSAMPLER_S3_REGION,
    access_key_id: env.TAILSAMPLER_S3_ACCESS_KEY_ID,
    secret_access_key: env.TAILSAMPLER_S3_SECRET_ACCESS_KEY,
  };
  const brokers = env.TAILSAMPLER_KAFKA_BROKERS!.split(',');
  const topics: string[] = [];
  let runs = 0;
  const deleteTopics = async (): Promise<void> => {
    const admin = new Admin({ clientId: 'tailsampler-bench', bootstrapBrokers: brokers });
    await admin.deleteTopics({ topics: topics.splice(0) }).catch(() => undefined);
    await admin.close();
  };
  return {
    serviceConfig() {
      const name = `${prefix}-${runs++}`;
      topics.push(name);
      return {
        spool: { type: 'kafka', kafka: { brokers, topic: name, group_id: name } },
        storage: {
          catalog: { type: 'rest', uri: rest.TAILSAMPLER_ICEBERG_REST_URI, warehouse: restEnv.TAILSAMPLER_ICEBERG_REST_WAREHOUSE },
          table: { namespace: name.replaceAll('-', '_') },
          s3,
        },
      };
    },
    deleteTopics,
    async close() {
      await deleteTopics();
      if (!started.includes('garage')) {
        const client = new S3Client(s3ClientConfig(s3OptionsFromConfig(configSchema.parse({ storage: { s3 } }).storage.s3)));
        for (let token: string | undefined; ; ) {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
          for (const o of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
          if (!(token = page.NextContinuationToken)) break;
        }
        client.destroy();
      }
      await stop();
    },
  };
}

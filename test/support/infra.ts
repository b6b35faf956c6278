import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Endpoints of a real component started by `bash scripts/infra.sh up` (npm test does it), read from the
 * env file its script writes. Missing means the harness did not start it: that fails the test, never
 * skips it.
 */
export function infraEnv(component: 'kafka' | 'redis' | 'garage' | 'iceberg-rest'): Record<string, string> {
  const dir = process.env.TAILSAMPLER_INFRA_DIR ?? join(process.env.TAILSAMPLER_CACHE ?? join(homedir(), '.cache', 'tailsampler'), 'run');
  const file = join(dir, component, 'env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${component} is not running (no ${file}); start it with: bash scripts/infra.sh up ${component}`);
  }
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** `storage.s3` for the Garage the harness runs (its endpoint, region and key). */
export function garageS3Config(): { endpoint: string; region: string; access_key_id: string; secret_access_key: string } {
  const env = infraEnv('garage');
  return {
    endpoint: env.TAILSAMPLER_S3_ENDPOINT!,
    region: env.TAILSAMPLER_S3_REGION!,
    access_key_id: env.TAILSAMPLER_S3_ACCESS_KEY_ID!,
    secret_access_key: env.TAILSAMPLER_S3_SECRET_ACCESS_KEY!,
  };
}

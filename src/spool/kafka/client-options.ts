import { readFile } from 'node:fs/promises';
import type { KafkaSpoolConfig } from './config.ts';
import { KafkaSpoolError } from './errors.ts';

/** What every @platformatic/kafka client of the spool gets: brokers, id, timeouts, TLS, SASL. */
export interface KafkaClientOptions {
  clientId: string;
  bootstrapBrokers: string[];
  /** Per request. */
  timeout: number;
  connectTimeout: number;
  retries: number;
  retryDelay: number;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  tlsServerName?: string | boolean;
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
}

/** Attempts per Kafka request (the client retries network errors and retryable broker errors). */
const RETRIES = 2;
const RETRY_DELAY_MS = 250;

async function pem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new KafkaSpoolError(`spool.kafka.tls.${what}: cannot read ${path}: ${(e as Error).message}`, e);
  }
}

/**
 * Client options from the config. A request waits at most timeout_ms / 2 so that one retry fits in
 * an append's timeout_ms; connecting waits at most 5 s.
 */
export async function kafkaClientOptions(config: KafkaSpoolConfig): Promise<KafkaClientOptions> {
  const options: KafkaClientOptions = {
    clientId: config.client_id,
    bootstrapBrokers: [...config.brokers],
    timeout: Math.max(100, Math.floor(config.timeout_ms / 2)),
    connectTimeout: Math.min(5_000, config.timeout_ms),
    retries: RETRIES,
    retryDelay: RETRY_DELAY_MS,
  };
  const tls = config.tls;
  if (tls !== null) {
    options.tls = { rejectUnauthorized: !tls.insecure_skip_verify };
    if (tls.ca_file !== undefined) options.tls.ca = await pem(tls.ca_file, 'ca_file');
    if (tls.cert_file !== undefined) options.tls.cert = await pem(tls.cert_file, 'cert_file');
    if (tls.key_file !== undefined) options.tls.key = await pem(tls.key_file, 'key_file');
    // true: SNI with the host each broker is dialled by.
    options.tlsServerName = tls.server_name_override ?? true;
  }
  if (config.sasl !== null) options.sasl = { ...config.sasl };
  return options;
}

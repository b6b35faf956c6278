import { readTlsFiles, type TlsFileOptions } from '../../config/tls.ts';
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
  tls?: TlsFileOptions;
  tlsServerName?: string | boolean;
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
}

/** Attempts per Kafka request (the client retries network errors and retryable broker errors). */
const RETRIES = 2;
const RETRY_DELAY_MS = 250;

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
    options.tls = await readTlsFiles(tls, 'spool.kafka.tls', (message, cause) => new KafkaSpoolError(message, cause));
    // true: SNI with the host each broker is dialled by.
    options.tlsServerName = tls.server_name_override ?? true;
  }
  if (config.sasl !== null) options.sasl = { ...config.sasl };
  return options;
}

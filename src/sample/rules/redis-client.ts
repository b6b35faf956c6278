import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { splitHostPort } from '../../config/host-port.ts';
import { readTlsFiles } from '../../config/tls.ts';
import type { RedisRulesConfig } from './config.ts';
import { RuleStoreConfigError } from './errors.ts';

export type RedisClient = Redis | Cluster;

/** Reconnect backoff: 100 ms doubling to 2 s, forever (the last good rule set serves meanwhile). */
function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 5), 2000);
}

async function tlsOptions(config: RedisRulesConfig, schemeTls: boolean): Promise<ConnectionOptions | undefined> {
  const tls = config.tls;
  if (tls === null) return schemeTls ? {} : undefined;
  const out: ConnectionOptions = await readTlsFiles(tls, 'force_rules.redis.tls', (message, cause) => new RuleStoreConfigError(message, cause));
  if (tls.server_name_override !== undefined) out.servername = tls.server_name_override;
  return out;
}

interface Endpoint {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

function parseEndpoint(endpoint: string): Endpoint {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (e) {
    throw new RuleStoreConfigError(`force_rules.redis.endpoint is not a URL: ${(e as Error).message}`, e);
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new RuleStoreConfigError(`force_rules.redis.endpoint: database "${url.pathname.slice(1)}" is not a number`);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
    db,
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
    tls: url.protocol === 'rediss:',
  };
}

/** The endpoint without credentials, for logs. */
export function describeEndpoint(config: RedisRulesConfig): string {
  if (config.cluster !== null) return `cluster ${config.cluster.nodes.join(',')}`;
  if (config.sentinel !== null) return `sentinel ${config.sentinel.master_name}@${config.sentinel.sentinels.join(',')}`;
  const e = parseEndpoint(config.endpoint);
  return `${e.tls ? 'rediss' : 'redis'}://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}/${e.db}`;
}

/**
 * A client (not yet connected: `lazyConnect`) for standalone Redis, Sentinel or Cluster. Commands
 * fail at once while disconnected (no offline queue) instead of waiting, so a store call or a
 * reload fails fast and the last good set stays in force; the client reconnects on its own.
 */
export async function createRedisClient(config: RedisRulesConfig): Promise<RedisClient> {
  const endpoint = parseEndpoint(config.endpoint);
  const tls = await tlsOptions(config, endpoint.tls);
  const username = config.username ?? endpoint.username;
  const password = config.password ?? endpoint.password;
  const common: RedisOptions = {
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(tls !== undefined ? { tls } : {}),
    connectTimeout: config.connect_timeout_ms,
    commandTimeout: config.command_timeout_ms,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
  };
  if (config.cluster !== null) {
    const options: ClusterOptions = {
      redisOptions: common,
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: reconnectDelay,
    };
    return new Cluster(config.cluster.nodes.map(splitHostPort), options);
  }
  const base: RedisOptions = { ...common, db: endpoint.db, enableOfflineQueue: false, retryStrategy: reconnectDelay };
  if (config.sentinel !== null) {
    const s = config.sentinel;
    return new Redis({
      ...base,
      name: s.master_name,
      sentinels: s.sentinels.map(splitHostPort),
      ...(s.username !== null ? { sentinelUsername: s.username } : {}),
      ...(s.password !== null ? { sentinelPassword: s.password } : {}),
      ...(tls !== undefined ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      sentinelRetryStrategy: reconnectDelay,
    });
  }
  return new Redis({ ...base, host: endpoint.host, port: endpoint.port });
}

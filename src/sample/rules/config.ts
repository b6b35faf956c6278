import { z } from 'zod';
import { hostPort } from '../../config/host-port.ts';
import { tlsSchema } from '../../config/tls.ts';

/** An empty value (e.g. `${REDIS_PASSWORD:-}`) means "not set". */
const optionalString = z.preprocess((v) => (v === '' ? null : v), z.string().nullable());

const redisSchema = z
  .object({
    /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS (standalone Redis). */
    endpoint: z
      .string()
      .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379')
      .default('redis://127.0.0.1:6379'),
    /** Prefix of every key and channel: `<prefix>rules` (hash), `<prefix>rules:changed` (channel). */
    key_prefix: z.string().default('tailsampler:'),
    /** ACL user and password (write `${VAR}`; never logged); override those in the endpoint URL. */
    username: optionalString.default(null),
    password: optionalString.default(null),
    /** TLS to Redis (`null`: as the endpoint's scheme says; `{}`: TLS with the system's CAs). */
    tls: tlsSchema.nullable().default(null),
    /** Redis Sentinel: the master is found through these sentinels (endpoint host/port unused). */
    sentinel: z
      .object({
        master_name: z.string().min(1),
        sentinels: z.array(hostPort('redis-0:6379')).min(1),
        /** Credentials of the sentinels themselves, when they require them. */
        username: optionalString.default(null),
        password: optionalString.default(null),
      })
      .strict()
      .nullable()
      .default(null),
    /** Redis Cluster: seed nodes (endpoint host/port unused). */
    cluster: z
      .object({ nodes: z.array(hostPort('redis-0:6379')).min(1) })
      .strict()
      .nullable()
      .default(null),
    connect_timeout_ms: z.number().int().positive().default(5000),
    /** A command not answered by then fails (the last good set stays in force). */
    command_timeout_ms: z.number().int().positive().default(2000),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.sentinel !== null && r.cluster !== null) {
      ctx.addIssue({ code: 'custom', path: ['cluster'], message: 'sentinel and cluster exclude each other' });
    }
  });

/**
 * `force_rules:` — rules operators set at run time (through the admin API) that keep or drop
 * matching traces before the policies decide; stored in Redis, shared by every replica.
 */
export const forceRulesSchema = z
  .object({
    redis: redisSchema.prefault({}),
    /** Every replica reloads the whole set this often, besides on each change notice. */
    reload_interval_secs: z.number().positive().default(30),
    /** Rules the store holds at most (expired ones not counted); creating more is refused. */
    max_rules: z.number().int().positive().default(1000),
  })
  .strict()
  .nullable()
  .default(null);

export type ForceRulesConfig = NonNullable<z.infer<typeof forceRulesSchema>>;
export type RedisRulesConfig = ForceRulesConfig['redis'];

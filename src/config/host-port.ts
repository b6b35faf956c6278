import { z } from 'zod';

/** `host:port` as the Collector writes endpoints; an IPv6 host comes bracketed (`[::1]:8888`). */
const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[^\s:/]+):\d{1,5}$/;

/** A `host:port` config value; `example` (e.g. `kafka-0:9092`) is shown in the error message. */
export function hostPort(example: string): z.ZodString {
  return z.string().regex(HOST_PORT, `must be host:port, e.g. ${example}`);
}

/** Splits a `host:port` the schema accepted; brackets come off an IPv6 host. */
export function splitHostPort(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(endpoint.slice(i + 1)) };
}

/**
 * Client TLS settings, named like the Collector's configtls so a pasted `tls` block means the same,
 * shared by every outgoing connection the config describes (Redis, Kafka).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const tlsSchema = z
  .object({
    /** PEM file of the CA(s) that sign the servers' certificates; absent: the system's roots. */
    ca_file: z.string().min(1).optional(),
    /** Client certificate and key (PEM) for mutual TLS; both or neither. */
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    /** Accept any server certificate (tests only). */
    insecure_skip_verify: z.boolean().default(false),
    /** Name checked against the server certificate instead of the host dialled. */
    server_name_override: z.string().min(1).optional(),
  })
  .strict()
  .refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), {
    message: 'cert_file and key_file go together',
    path: ['key_file'],
  });

export type TlsConfig = z.infer<typeof tlsSchema>;

/** What Node's `tls.connect` takes from a {@link TlsConfig}, besides the server name. */
export interface TlsFileOptions {
  rejectUnauthorized: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Reads the PEM files a TLS config names. `at` is the config path of the block (e.g.
 * `spool.kafka.tls`), put in the message of the error `fail` makes when a file cannot be read.
 */
export async function readTlsFiles(
  tls: TlsConfig,
  at: string,
  fail: (message: string, cause: unknown) => Error,
): Promise<TlsFileOptions> {
  const pem = async (path: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (e) {
      throw fail(`${at}.${what}: cannot read ${path}: ${(e as Error).message}`, e);
    }
  };
  const out: TlsFileOptions = { rejectUnauthorized: !tls.insecure_skip_verify };
  if (tls.ca_file !== undefined) out.ca = await pem(tls.ca_file, 'ca_file');
  if (tls.cert_file !== undefined) out.cert = await pem(tls.cert_file, 'cert_file');
  if (tls.key_file !== undefined) out.key = await pem(tls.key_file, 'key_file');
  return out;
}

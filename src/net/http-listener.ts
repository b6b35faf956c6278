/**
 * The listening side of the service's small HTTP servers (telemetry, admin): listen on a config
 * `host:port`, report the address actually bound, and close at once on shutdown.
 */
import type { Server } from 'node:http';
import { splitHostPort } from '../config/host-port.ts';

export class HttpListener {
  readonly #server: Server;
  #listening = false;

  constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on `endpoint` (`host:port`, an IPv6 host bracketed); rejects with the bind error (e.g. EADDRINUSE). */
  async listen(endpoint: string): Promise<void> {
    const { host, port } = splitHostPort(endpoint);
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.#listening = true;
  }

  /**
   * Stops listening and closes every connection, idle keep-alive ones (scrapers, admin clients)
   * included, so none holds shutdown open. Does nothing when not listening.
   */
  async close(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** `host:port` actually bound (resolves port 0; an IPv6 host bracketed), or null while not listening. */
  address(): string | null {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') return a;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }
}

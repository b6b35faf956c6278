import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Component } from '../component.ts';
import type { TelemetryConfig } from '../config/schema.ts';
import { HttpListener } from '../net/http-listener.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export interface TelemetryServerDeps {
  metrics: Metrics;
  logger: Logger;
  /** Whether the pipeline accepts traffic (all components started, not shutting down). */
  ready: () => boolean;
  /** Per exporter, what it still owes (shown by /readyz; a backlog does not make the service unready). */
  exporters?: () => Record<string, { backlog: number; oldestPendingSecs: number | null; full: boolean }>;
}

export type TelemetryServer = Component & {
  /** `host:port` actually bound (resolves port 0), or null while not listening. */
  address(): string | null;
};

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The service's own endpoint: Prometheus metrics, liveness and readiness (like the Collector's :8888). */
export function createTelemetryServer(config: TelemetryConfig, deps: TelemetryServerDeps): TelemetryServer {
  const log = deps.logger.child({ component: 'telemetry-server' });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
    if (!known) {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendJson(res, 405, { error: 'method not allowed' });
      return;
    }
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      // Spans keep being taken and decided while a destination is down (kept traces wait durably), so
      // an exporter backlog is reported here but does not take the replica out of service.
      const exporters = deps.exporters?.() ?? {};
      if (deps.ready()) sendJson(res, 200, { status: 'ready', exporters });
      else sendJson(res, 503, { status: 'not ready', exporters });
    } else {
      const text = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
      res.end(text);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'telemetry request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });

  // Scrapers keep connections alive: the listener closes them at once on shutdown.
  const listener = new HttpListener(server);
  return {
    async start(): Promise<void> {
      await listener.listen(config.endpoint);
      log.info({ endpoint: listener.address() }, 'telemetry server listening');
    },
    shutdown: () => listener.close(),
    address: () => listener.address(),
  };
}

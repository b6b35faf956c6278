import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the fake server saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeReply {
  status: number;
  body?: unknown;
  /** Raw text instead of JSON. */
  text?: string;
  /** Never answer (to exercise client timeouts). */
  hang?: boolean;
}

/**
 * A scripted HTTP endpoint for unit tests of the REST client's request building and error mapping
 * (the catalog itself is tested against Apache Iceberg's real REST server in test/integration).
 * `handler` decides each reply; every request is recorded.
 */
export async function fakeServer(handler: (req: SeenRequest) => FakeReply): Promise<{ uri: string; seen: SeenRequest[]; close: () => Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const r: SeenRequest = { method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const reply = handler(r);
      if (reply.hang) return;
      const text = reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    uri,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function icebergError(code: number, type: string, message: string): FakeReply {
  return { status: code, body: { error: { message, type, code } } };
}

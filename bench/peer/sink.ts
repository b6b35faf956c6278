/** The OTLP/HTTP sink both samplers export their kept traces to. */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * OTLP/HTTP receiver on 127.0.0.1 that records when each kept trace arrived. Traces of the replay
 * generator are known by their id prefix and counter (arrival time per counter); others (telemetrygen)
 * are counted as distinct ids. It walks the protobuf only as far as the trace ids.
 */
export class Sink {
  url = '';
  spans = 0;
  private server = createServer((req, res) => this.onRequest(req, res));
  private prefix: Buffer | undefined;
  private arrival = new Float64Array(0);
  private known = 0;
  private other: Set<string> | undefined;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Forget what arrived; `prefix`: time each of `traces` replay traces, else count distinct ids. */
  reset(prefix?: string, traces = 0, distinct = true): void {
    this.spans = 0;
    this.known = 0;
    this.prefix = prefix ? Buffer.from(prefix, 'hex') : undefined;
    this.arrival = new Float64Array(traces);
    this.other = distinct ? new Set() : undefined;
  }

  /** Distinct traces that arrived. */
  get traces(): number {
    return this.known + (this.other?.size ?? 0);
  }

  /** Epoch ms the last span of replay trace `counter` arrived, 0 if none did. */
  arrivedAt(counter: number): number {
    return this.arrival[counter] ?? 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = performance.timeOrigin + performance.now();
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        this.walk(body, 0, body.length, 0, now);
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
  }

  /** ExportTraceServiceRequest(1: resource_spans) → ResourceSpans(2: scope_spans) → ScopeSpans(2: spans) → Span(1: trace_id). */
  private walk(b: Buffer, at: number, end: number, depth: number, now: number): void {
    while (at < end) {
      let key = 0;
      for (let shift = 0; ; shift += 7) {
        const x = b[at++]!;
        key += (x & 0x7f) * 2 ** shift;
        if (x < 0x80) break;
      }
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire === 0) {
        while (b[at++]! >= 0x80);
        continue;
      }
      if (wire === 1) {
        at += 8;
        continue;
      }
      if (wire === 5) {
        at += 4;
        continue;
      }
      if (wire !== 2) throw new Error(`unexpected wire type ${wire}`);
      let len = 0;
      for (let shift = 0; ; shift += 7) {
        const x = b[at++]!;
        len += (x & 0x7f) * 2 ** shift;
        if (x < 0x80) break;
      }
      const next = at + len;
      if (depth === 0 && field === 1) this.walk(b, at, next, 1, now);
      else if ((depth === 1 || depth === 2) && field === 2) this.walk(b, at, next, depth + 1, now);
      else if (depth === 3 && field === 1 && len === 16) this.traceId(b, at, now);
      at = next;
    }
    if (depth === 3) this.spans++;
  }

  private traceId(b: Buffer, at: number, now: number): void {
    if (this.prefix && b.compare(this.prefix, 0, 8, at, at + 8) === 0) {
      const counter = b.readUInt32BE(at + 8) * 2 ** 32 + b.readUInt32BE(at + 12);
      if (counter < this.arrival.length) {
        if (this.arrival[counter] === 0) this.known++;
        this.arrival[counter] = now;
        return;
      }
    }
    this.other?.add(b.toString('hex', at, at + 16));
  }
}

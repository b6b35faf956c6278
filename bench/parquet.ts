/**
 * CPU per span of writing the span table's Parquet data files (`writeDataFile`), alone and with
 * decoding the spool payloads first (`requestsToColumns` + `writeDataFile`), and file bytes per span,
 * on two span shapes: telemetrygen's (short names, two attributes, no events) and realistic HTTP
 * server spans (test/fixtures/otlp/requests.ts: ten attributes, one event). Files of ~1,500 rows are
 * what production writes (a commit every 2 s spread over 16 trace-id buckets); ~20,000 rows shows
 * what is per-file and what is per-span. CPU is process CPU (user + system, so GC threads count).
 * usage: npm run bench -- --only parquet [--parquet-spans 300000]
 */
import { randomBytes } from 'node:crypto';
import { writeDataFile } from '../src/lake/parquet/write.ts';
import { requestsToColumns } from '../src/otlp/to-columns.ts';
import type { opentelemetry } from '../src/otlp/gen/otlp.js';
import { encodeRequest, realisticRequest, u64 } from '../test/fixtures/otlp/requests.ts';

type SpanProps = opentelemetry.proto.trace.v1.Span.$Properties;

/** What telemetrygen (v0.161, `traces --child-spans 9`) sends: a "lets-go" root and "okey-dokey-N" children. */
export function telemetrygenRequest(spans: number, spansPerTrace = 10): Uint8Array {
  const list: SpanProps[] = [];
  const start = 1_700_000_000_000_000_000n;
  let traceId = randomBytes(16);
  let rootId = randomBytes(8);
  for (let i = 0; i < spans; i++) {
    const child = i % spansPerTrace;
    if (child === 0) {
      traceId = randomBytes(16);
      rootId = randomBytes(8);
    }
    const t = start + BigInt(i) * 1_000_000n;
    list.push({
      traceId,
      spanId: child === 0 ? rootId : randomBytes(8),
      ...(child === 0 ? {} : { parentSpanId: rootId }),
      name: child === 0 ? 'lets-go' : `okey-dokey-${child - 1}`,
      kind: child === 0 ? 3 : 2,
      startTimeUnixNano: u64(String(t)),
      endTimeUnixNano: u64(String(t + 123_000n)),
      attributes: [
        { key: 'net.peer.ip', value: { stringValue: '1.2.3.4' } },
        { key: 'peer.service', value: { stringValue: child === 0 ? 'telemetrygen-server' : 'telemetrygen-client' } },
      ],
      status: {},
    });
  }
  return encodeRequest({
    resourceSpans: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'bench-plain' } },
            { key: 'telemetry.sdk.language', value: { stringValue: 'go' } },
            { key: 'telemetry.sdk.name', value: { stringValue: 'opentelemetry' } },
            { key: 'telemetry.sdk.version', value: { stringValue: '1.38.0' } },
          ],
        },
        scopeSpans: [{ scope: { name: 'telemetrygen' }, spans: list }],
      },
    ],
  });
}

/** Batch rows in file order: by trace id, then start time (what partitionBatch gives a file). */
function fileOrder(batch: ReturnType<typeof requestsToColumns>): Int32Array {
  const rows = Int32Array.from({ length: batch.length }, (_, i) => i);
  const ids = batch.trace_id;
  const starts = batch.start_time_unix_nano;
  return rows.sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : starts[a]! < starts[b]! ? -1 : starts[a]! > starts[b]! ? 1 : 0));
}

const ROW_GROUP_SIZE = 100_000; // storage.row_group_size's default

function cpuMicros(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

/** Writes `totalSpans` spans in files of `fileRows` rows; µs of CPU per span, file bytes per span. */
async function measure(payloads: Uint8Array[], fileRows: number, totalSpans: number, decode: boolean): Promise<{ cpu: number; bytes: number }> {
  const files = Math.max(1, Math.round(totalSpans / fileRows));
  const batches = payloads.map((p) => requestsToColumns([p]));
  const orders = batches.map(fileOrder);
  const once = async (k: number): Promise<number> => {
    const i = k % payloads.length;
    const batch = decode ? requestsToColumns([payloads[i]!]) : batches[i]!;
    const rows = decode ? fileOrder(batch) : orders[i]!;
    return writeDataFile(batch, rows, { rowGroupSize: ROW_GROUP_SIZE }).bytes.length;
  };
  for (let k = 0; k < Math.min(files, 20); k++) await once(k); // warm up
  let bytes = 0;
  const c0 = cpuMicros();
  for (let k = 0; k < files; k++) bytes += await once(k);
  const cpu = cpuMicros() - c0;
  return { cpu: cpu / (files * fileRows), bytes: bytes / (files * fileRows) };
}

export async function runParquetBench(options: { spans: number }): Promise<void> {
  const shapes: [string, (n: number) => Uint8Array][] = [
    ['telemetrygen', (n) => telemetrygenRequest(n)],
    ['realistic', (n) => realisticRequest(n)],
  ];
  console.log(`parquet write (row group ${ROW_GROUP_SIZE}, ${options.spans} spans a measurement; CPU µs and file bytes per span):`);
  for (const [shape, make] of shapes) {
    for (const fileRows of [1_500, 20_000]) {
      // A few distinct payloads so the writer does not see one file's strings over and over.
      const payloads = Array.from({ length: fileRows < 10_000 ? 8 : 2 }, () => make(fileRows));
      const write = await measure(payloads, fileRows, options.spans, false);
      const both = await measure(payloads, fileRows, options.spans, true);
      console.log(
        `  ${shape.padEnd(12)} ${String(fileRows).padStart(6)} rows/file: writeDataFile ${write.cpu.toFixed(2)} µs/span, ` +
          `requestsToColumns+writeDataFile ${both.cpu.toFixed(2)} µs/span, ${write.bytes.toFixed(1)} bytes/span`,
      );
    }
  }
}

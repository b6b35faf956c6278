import { spanPartitionKey } from '../lake/parquet/partition.ts';
import type { KafkaMetadata, WriteSpanColumns } from '../lake/span-schema.ts';
import type { EncodedFile, SpanParts } from '../lake/table.ts';
import type { CorruptPayloadError } from '../otlp/errors.ts';
import { decodeSpans } from '../otlp/to-columns.ts';
import { indexSpans, type SpanIndex } from '../otlp/span-index.ts';
import type { EncodeThread } from './encode-thread.ts';

/**
 * A commit's spool payloads as {@link SpanParts}: their spans indexed once, grouped by the table
 * partition each goes to (in day, then bucket order), and a partition's spans decoded only when the
 * table asks for that part, in payload and wire order.
 */
export class PayloadParts implements SpanParts {
  #ix: SpanIndex | null;
  #payloads: readonly Uint8Array[] | null;
  readonly #kafka: readonly (KafkaMetadata | null | undefined)[];
  readonly #receivedMs: readonly number[];
  readonly #excluded = new Set<number>();
  /** Decoded parts, kept for a second look (committed-batch observers); null: decoded each time. */
  #kept: (WriteSpanColumns | undefined)[] | null;
  #groups: Int32Array[] = [];
  length = 0;
  /** Set with an encode thread: the parts are decoded and encoded there. */
  readonly encoded?: (rowGroupSize: number) => AsyncIterable<EncodedFile[]>;

  /**
   * `kafka[p]` and `receivedMs[p]` are payload p's Kafka record and arrival time, as for
   * decodeSpans. A payload whose framing is damaged is reported to `onCorrupt` and has no spans; one
   * whose spans are damaged is found only when its part is decoded (see {@link exclude}). `keep`:
   * decoded parts are kept, for {@link part} to hand out again. With `thread`, the table's writer
   * has the parts encoded there (from the same payloads, grouped the same way) rather than asking
   * for them here.
   */
  constructor(
    payloads: readonly Uint8Array[],
    kafka: readonly (KafkaMetadata | null | undefined)[],
    receivedMs: readonly number[],
    onCorrupt: (payload: number, error: CorruptPayloadError) => void,
    keep: boolean,
    thread: EncodeThread | null = null,
  ) {
    this.#ix = indexSpans(payloads, spanPartitionKey, onCorrupt);
    this.#payloads = payloads;
    this.#kafka = kafka;
    this.#receivedMs = receivedMs;
    this.#kept = keep ? [] : null;
    this.#group();
    if (thread !== null) this.encoded = (rowGroupSize): AsyncIterable<EncodedFile[]> => this.#encodeOn(thread, rowGroupSize);
  }

  get parts(): number {
    return this.#groups.length;
  }

  part(i: number): WriteSpanColumns {
    const kept = this.#kept?.[i];
    if (kept !== undefined) return kept;
    if (this.#ix === null) throw new Error(`part ${i} asked for after its payloads were released`);
    const part = decodeSpans(this.#ix, this.#groups[i]!, this.#kafka, this.#receivedMs);
    if (this.#kept !== null) this.#kept[i] = part;
    return part;
  }

  /** Drops the payloads (and the index into them): parts kept decoded are still handed out. */
  release(): void {
    this.#ix = null;
    this.#payloads = null;
  }

  /** Leaves payload `p` out (its spans did not decode): the parts are grouped again without it. */
  exclude(p: number): void {
    this.#excluded.add(p);
    if (this.#kept !== null) this.#kept = [];
    this.#group();
  }

  #encodeOn(thread: EncodeThread, rowGroupSize: number): AsyncIterable<EncodedFile[]> {
    if (this.#payloads === null) throw new Error('parts encoded after their payloads were released');
    const batch = { payloads: this.#payloads, kafka: this.#kafka, receivedMs: this.#receivedMs, excluded: [...this.#excluded] };
    return thread.encode(batch, rowGroupSize);
  }

  /** Spans into one group per key, groups in key order, each in span order (a counting sort). */
  #group(): void {
    const ix = this.#ix!;
    const n = ix.count;
    const skip = (s: number): boolean => this.#excluded.size > 0 && this.#excluded.has(ix.payload[s]!);
    const sizes = new Map<number, number>();
    for (let s = 0; s < n; s++) if (!skip(s)) sizes.set(ix.key[s]!, (sizes.get(ix.key[s]!) ?? 0) + 1);
    const keys = [...sizes.keys()].sort((a, b) => a - b);
    const groupOf = new Map(keys.map((k, g) => [k, g]));
    const groups = keys.map((k) => new Int32Array(sizes.get(k)!));
    const fill = new Int32Array(groups.length);
    let length = 0;
    for (let s = 0; s < n; s++) {
      if (skip(s)) continue;
      const g = groupOf.get(ix.key[s]!)!;
      groups[g]![fill[g]!++] = s;
      length++;
    }
    this.#groups = groups;
    this.length = length;
  }
}

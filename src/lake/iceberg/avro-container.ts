import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import avro from 'avsc';
import { InvalidManifestError } from './errors.ts';

/**
 * The Avro object container format (Avro spec, "Object Container Files"), written and read here
 * rather than through avsc's stream encoders for two reasons: Iceberg readers need the `field-id`
 * attributes in the header's `avro.schema` (avsc's getSchema() drops unknown attributes), and
 * manifests are small enough that a synchronous whole-buffer codec is simpler than streams.
 */

export type AvroCodec = 'null' | 'deflate';

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // "Obj" 1
const SYNC_SIZE = 16;
/** Records per block: manifests are small, and blocks keep the decoder's working set bounded. */
const BLOCK_RECORDS = 1000;

const headerType = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: SYNC_SIZE } },
  ],
});
const longType = avro.Type.forSchema('long');

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Avro `long` as a number, or as its decimal text beyond 2^53: other engines draw snapshot ids from
 * all 63 bits (avsc's own long type refuses them), and ids are only compared. Strings encode back exactly.
 */
const exactLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => {
    const n = buf.readBigInt64LE();
    return n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : n.toString();
  },
  toBuffer: (v: number | string) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(v));
    return buf;
  },
  fromJSON: (v: number | string) => v,
  toJSON: (v: number | string) => v,
  isValid: (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v)),
  compare: (a: number | string, b: number | string) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  },
});

/** Avro types are costly to build; manifests of one layout share one. */
const typeCache = new Map<string, avro.Type>();

export function avroType(schemaJson: string): avro.Type {
  let type = typeCache.get(schemaJson);
  if (type === undefined) {
    type = avro.Type.forSchema(JSON.parse(schemaJson) as avro.Schema, { registry: { long: exactLong } });
    typeCache.set(schemaJson, type);
  }
  return type;
}

/**
 * Encodes `records` as an Avro container file. `schema` is the full writer schema (with any extra
 * attributes such as Iceberg's field ids) and goes verbatim into `avro.schema`.
 */
export function writeAvroContainer(
  schema: object,
  records: readonly unknown[],
  metadata: Record<string, string>,
  codec: AvroCodec = 'deflate',
): Uint8Array {
  const schemaJson = JSON.stringify(schema);
  const type = avroType(schemaJson);
  const meta: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(metadata)) meta[k] = Buffer.from(v, 'utf8');
  meta['avro.schema'] = Buffer.from(schemaJson, 'utf8');
  meta['avro.codec'] = Buffer.from(codec, 'utf8');
  const sync = randomBytes(SYNC_SIZE);
  const parts: Buffer[] = [headerType.toBuffer({ magic: MAGIC, meta, sync })];
  for (let start = 0; start < records.length; start += BLOCK_RECORDS) {
    const chunk = records.slice(start, start + BLOCK_RECORDS);
    const raw = Buffer.concat(chunk.map((r) => type.toBuffer(r)));
    const data = codec === 'deflate' ? deflateRawSync(raw) : raw;
    parts.push(longType.toBuffer(chunk.length), longType.toBuffer(data.length), data, sync);
  }
  return Buffer.concat(parts);
}

export interface AvroContainer {
  metadata: Map<string, string>;
  /** The writer schema as parsed from `avro.schema` (field ids included). */
  schema: unknown;
  records: unknown[];
}

/** Decodes a whole Avro container file with its own writer schema. */
export function readAvroContainer(bytes: Uint8Array, what: string): AvroContainer {
  try {
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const header = headerType.decode(buf, 0);
    if (header.offset < 0) throw new Error('truncated header');
    const { magic, meta, sync } = header.value as { magic: Buffer; meta: Record<string, Buffer>; sync: Buffer };
    if (!magic.equals(MAGIC)) throw new Error('not an Avro container file');
    const metadata = new Map<string, string>();
    for (const [k, v] of Object.entries(meta)) metadata.set(k, v.toString('utf8'));
    const schemaJson = metadata.get('avro.schema');
    if (schemaJson === undefined) throw new Error('no avro.schema in header');
    const codec = metadata.get('avro.codec') ?? 'null';
    if (codec !== 'null' && codec !== 'deflate') throw new Error(`unsupported codec ${codec}`);
    const type = avroType(schemaJson);
    const records: unknown[] = [];
    let pos = header.offset;
    while (pos < buf.length) {
      const count = longType.decode(buf, pos);
      const size = longType.decode(buf, count.offset);
      if (count.offset < 0 || size.offset < 0) throw new Error('truncated block header');
      const end = size.offset + (size.value as number);
      if (end + SYNC_SIZE > buf.length) throw new Error('truncated block');
      const stored = buf.subarray(size.offset, end);
      const data = codec === 'deflate' ? inflateRawSync(stored) : stored;
      let p = 0;
      for (let i = 0; i < (count.value as number); i++) {
        const r = type.decode(data, p);
        if (r.offset < 0) throw new Error('truncated record');
        records.push(r.value);
        p = r.offset;
      }
      if (!buf.subarray(end, end + SYNC_SIZE).equals(sync)) throw new Error('sync marker mismatch');
      pos = end + SYNC_SIZE;
    }
    return { metadata, schema: JSON.parse(schemaJson), records };
  } catch (e) {
    if (e instanceof InvalidManifestError) throw e;
    throw new InvalidManifestError(`cannot read Avro file ${what}: ${(e as Error).message}`, { cause: e });
  }
}

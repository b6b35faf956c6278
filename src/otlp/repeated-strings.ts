/**
 * What the codec makes again and again from the same bytes: strings (a trace's id on each of its
 * spans, the same few span names), handed out as the string decoded the first time (one allocation
 * instead of one per span, in a batch that lives until its commit), and attribute cells.
 */
import type { WireReader } from './wire-reader.ts';

/**
 * The hex of the last id it was asked for, returned again while the bytes repeat: spans of a trace
 * (and children of one parent) mostly arrive together, and a shared string is one allocation instead
 * of one per span, in a batch that lives until its commit.
 */
export class LastHex {
  private readonly bytes = new Uint8Array(32);
  private len = -1;
  private hex = '';

  hexOf(buf: Buffer, start: number, stop: number): string {
    const n = stop - start;
    const bytes = this.bytes;
    if (n === this.len) {
      let i = 0;
      while (i < n && bytes[i] === buf[start + i]) i++;
      if (i === n) return this.hex;
    }
    this.hex = buf.toString('hex', start, stop);
    if (n <= bytes.length) {
      for (let i = 0; i < n; i++) bytes[i] = buf[start + i]!;
      this.len = n;
    } else this.len = -1;
    return this.hex;
  }
}

/** Names (up to NAME_BYTES long) remembered, by a hash of their bytes. */
const NAME_SLOTS = 256;
const NAME_BYTES = 64;

/**
 * Span names are few (OTel asks for low-cardinality names) and repeat span after span: a name seen
 * recently is returned as the string decoded then, not decoded into a new one per span.
 */
export class Names {
  private readonly bytes = new Uint8Array(NAME_SLOTS * NAME_BYTES);
  private readonly lens = new Int32Array(NAME_SLOTS).fill(-1);
  private readonly strings = new Array<string>(NAME_SLOTS).fill('');

  /** A length-delimited string field, as `WireReader.string` reads it. */
  read(r: WireReader, end: number): string {
    const at = r.pos;
    const stop = r.delimited(end);
    const start = r.pos;
    const n = stop - start;
    if (n > NAME_BYTES) {
      r.pos = at;
      return r.string(end);
    }
    const buf = r.buf;
    let h = n;
    for (let i = start; i < stop; i++) h = (Math.imul(h, 31) + buf[i]!) | 0;
    const slot = (h ^ (h >>> 8)) & (NAME_SLOTS - 1);
    const base = slot * NAME_BYTES;
    const bytes = this.bytes;
    if (this.lens[slot] === n) {
      let i = 0;
      while (i < n && bytes[base + i] === buf[start + i]) i++;
      if (i === n) {
        r.pos = stop;
        return this.strings[slot]!;
      }
    }
    r.pos = at;
    const s = r.string(end);
    for (let i = 0; i < n; i++) bytes[base + i] = buf[start + i]!;
    this.lens[slot] = n;
    this.strings[slot] = s;
    return s;
  }
}

/** Cells remembered, and the most wire bytes a remembered cell is written from. */
const CELL_SLOTS = 4;
const CELL_WIRE_BYTES = 1024;

/**
 * The JSON cells of the last few spans by the wire bytes they came from: spans of one operation
 * mostly carry the same attributes, and a cell found here is handed out again (cells are never
 * written into) instead of being written anew. `find` first; on a miss, `remember` the cell made.
 */
export class RepeatedCells {
  private readonly bytes = Buffer.alloc(CELL_SLOTS * CELL_WIRE_BYTES);
  private readonly lens = new Int32Array(CELL_SLOTS).fill(-1);
  private readonly cells = new Array<Uint8Array | null>(CELL_SLOTS).fill(null);
  /** The slot `remember` fills next (round robin). */
  private next = 0;

  /** The cell written from buf[start, stop) before, or null. */
  find(buf: Buffer, start: number, stop: number): Uint8Array | null {
    const n = stop - start;
    for (let slot = 0; slot < CELL_SLOTS; slot++) {
      if (this.lens[slot] !== n) continue;
      const base = slot * CELL_WIRE_BYTES;
      if (buf.compare(this.bytes, base, base + n, start, stop) === 0) return this.cells[slot]!;
    }
    return null;
  }

  /** Remembers `cell` as written from buf[start, stop). */
  remember(buf: Buffer, start: number, stop: number, cell: Uint8Array): void {
    if (stop - start > CELL_WIRE_BYTES) return;
    const slot = this.next;
    this.next = (slot + 1) % CELL_SLOTS;
    buf.copy(this.bytes, slot * CELL_WIRE_BYTES, start, stop);
    this.lens[slot] = stop - start;
    this.cells[slot] = cell;
  }
}

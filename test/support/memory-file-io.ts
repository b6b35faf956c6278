import type { FileIO } from '../../src/lake/file-io.ts';

/**
 * A FileIO over a Map, for unit tests of readers and writers (integration tests use real storage);
 * `ranges` records every range read, to show which bytes a read touched.
 */
export class MemoryIO implements FileIO {
  readonly files = new Map<string, Uint8Array>();
  readonly ranges: [number, number][] = [];
  async write(uri: string, bytes: Uint8Array): Promise<void> {
    this.files.set(uri, bytes);
  }
  async read(uri: string): Promise<Uint8Array> {
    return this.files.get(uri)!;
  }
  async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    this.ranges.push([offset, offset + length]);
    return this.files.get(uri)!.subarray(offset, offset + length);
  }
  async size(uri: string): Promise<number> {
    return this.files.get(uri)!.byteLength;
  }
  async delete(uri: string): Promise<void> {
    this.files.delete(uri);
  }
}

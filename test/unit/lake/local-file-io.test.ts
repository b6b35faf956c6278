import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalFileIO, toFileUri } from '../../../src/lake/file-io.ts';
import { FileNotFoundError, InvalidFileUriError } from '../../../src/lake/file-io-errors.ts';

test('LocalFileIO: file URIs and paths round-trip; a missing file is FileNotFoundError; other schemes are refused', async () => {
  const io = new LocalFileIO();
  const dir = mkdtempSync(join(tmpdir(), 'local-io-'));
  const uri = toFileUri(join(dir, 'a', 'b.bin'));
  await io.write(uri, new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual([...(await io.readRange(uri, 1, 2))], [2, 3]);
  assert.equal(await io.size(join(dir, 'a', 'b.bin')), 4);
  const missing = toFileUri(join(dir, 'nope'));
  for (const op of [() => io.read(missing), () => io.readRange(missing, 0, 1), () => io.size(missing)]) {
    await assert.rejects(op(), (e: unknown) => e instanceof FileNotFoundError && e.code === 'TS_FILEIO_NOT_FOUND' && e.uri === missing);
  }
  // Before, an s3:// URI became a relative path and the object was written under the working directory.
  await assert.rejects(io.write('s3://bucket/key', new Uint8Array(1)), InvalidFileUriError);
  await assert.rejects(io.read('s3://bucket/key'), InvalidFileUriError);
});

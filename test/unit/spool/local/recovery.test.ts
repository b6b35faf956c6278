import assert from 'node:assert/strict';
import { appendFile, open, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  KIB_IN_MIB,
  makeSpool,
  readAll,
  rec,
  recNo,
  segmentFiles,
  spoolConfig,
  tempDir,
} from './spool-fixture.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

async function fill(n: number, size = 100, over = {}): Promise<void> {
  const { spool } = makeSpool(spoolConfig(dir, over));
  await spool.start();
  for (let i = 0; i < n; i++) await spool.append([rec(i, size)]);
  await spool.shutdown();
}

async function reopen(over = {}) {
  const s = makeSpool(spoolConfig(dir, over));
  await s.spool.start();
  return s;
}

describe('LocalSpool restart', () => {
  it('reads back everything not released after a clean restart, and pendingBytes counts it all', async () => {
    const { spool } = makeSpool(spoolConfig(dir, { segment_size_mib: KIB_IN_MIB }));
    await spool.start();
    for (let i = 0; i < 20; i++) await spool.append([rec(i, 100)]);
    const all = await readAll(spool);
    await spool.release(all[11]!.next);
    await spool.shutdown();

    const { spool: again } = await reopen({ segment_size_mib: KIB_IN_MIB });
    const got = (await readAll(again, all[11]!.next)).map((r) => recNo(r.payload));
    assert.deepEqual(got, [12, 13, 14, 15, 16, 17, 18, 19]);
    // The released position is not persisted (the table holds it): everything retained counts.
    const retained = await readAll(again);
    assert.equal(again.pendingBytes(), retained.length * 108);
    assert.ok(retained.length >= 8);
    // Appends continue after the old records, with later positions.
    await again.append([rec(20)]);
    const tail = await again.read(all[19]!.next, 1 << 20);
    assert.deepEqual(tail.map((r) => recNo(r.payload)), [20]);
    await again.shutdown();
  });

  it('recovers without shutdown (abandoned instance, as after a crash)', async () => {
    const { spool } = makeSpool(spoolConfig(dir));
    await spool.start();
    await spool.append([rec(1), rec(2)]);
    // No shutdown: the lock file still names this (live) process, which may take it over.
    const { spool: again } = await reopen();
    assert.deepEqual((await readAll(again)).map((r) => recNo(r.payload)), [1, 2]);
    await again.shutdown();
    await spool.shutdown(); // only closes the abandoned file handle
  });
});

describe('LocalSpool torn tail', () => {
  it('truncates a cut last frame, keeps everything before it, and appends continue', async () => {
    await fill(5);
    const [seg] = await segmentFiles(dir);
    const path = join(dir, seg!);
    const size = (await stat(path)).size;
    await truncate(path, size - 30); // cut into record 4

    const { spool, lines } = await reopen();
    assert.deepEqual((await readAll(spool)).map((r) => recNo(r.payload)), [0, 1, 2, 3]);
    const warns = lines.filter((l) => l.level === 40);
    assert.equal(warns.length, 1);
    assert.equal(warns[0]!.droppedBytes, 108 - 30);
    assert.equal(warns[0]!.file, path);
    await spool.append([rec(50)]);
    assert.deepEqual((await readAll(spool)).map((r) => recNo(r.payload)), [0, 1, 2, 3, 50]);
    await spool.shutdown();

    const { spool: third, lines: l3 } = await reopen();
    assert.deepEqual((await readAll(third)).map((r) => recNo(r.payload)), [0, 1, 2, 3, 50]);
    assert.equal(l3.filter((l) => l.level === 40).length, 0, 'nothing left to truncate');
    await third.shutdown();
  });

  it('truncates garbage and zero-filled bytes after the last frame', async () => {
    await fill(3);
    const [seg] = await segmentFiles(dir);
    const path = join(dir, seg!);
    await appendFile(path, Buffer.concat([Buffer.alloc(40), Buffer.from('garbage!')]));
    const { spool, lines } = await reopen();
    assert.deepEqual((await readAll(spool)).map((r) => recNo(r.payload)), [0, 1, 2]);
    assert.equal(lines.filter((l) => l.level === 40)[0]!.droppedBytes, 48);
    await spool.shutdown();
  });

  it('truncates a frame whose crc does not match when it is the last one', async () => {
    await fill(3);
    const [seg] = await segmentFiles(dir);
    const path = join(dir, seg!);
    const fh = await open(path, 'r+');
    const size = (await fh.stat()).size;
    await fh.write(Buffer.from([0xff]), 0, 1, size - 1); // last byte of record 2's payload
    await fh.close();
    const { spool } = await reopen();
    assert.deepEqual((await readAll(spool)).map((r) => recNo(r.payload)), [0, 1]);
    await spool.shutdown();
  });

  it('repairs a last segment whose header was torn at creation', async () => {
    await fill(3, 100, { segment_size_mib: KIB_IN_MIB });
    const files = await segmentFiles(dir);
    const next = String(Number(files.at(-1)!.slice(0, 20)) + 1).padStart(20, '0') + '.seg';
    await writeFile(join(dir, next), Buffer.from([0x54, 0x53])); // 2 of 8 header bytes
    const { spool } = await reopen({ segment_size_mib: KIB_IN_MIB });
    assert.deepEqual((await readAll(spool)).map((r) => recNo(r.payload)), [0, 1, 2]);
    await spool.append([rec(3)]);
    assert.deepEqual((await readAll(spool)).map((r) => recNo(r.payload)), [0, 1, 2, 3]);
    await spool.shutdown();
  });
});

describe('LocalSpool corruption', () => {
  it('refuses to start when a segment before the last is corrupt, naming file and offset', async () => {
    await fill(30, 100, { segment_size_mib: KIB_IN_MIB });
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 3);
    const victim = join(dir, files[0]!);
    const bytes = await readFile(victim);
    const at = 8 + 108 + 8 + 5; // inside the payload of the second record
    bytes[at] = bytes[at]! ^ 0xff;
    await writeFile(victim, bytes);

    const { spool } = makeSpool(spoolConfig(dir, { segment_size_mib: KIB_IN_MIB }));
    await assert.rejects(spool.start(), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'TS_SPOOL_CORRUPT');
      assert.ok(e.message.includes(victim), e.message);
      assert.ok(e.message.includes('offset 116'), e.message);
      return true;
    });
    // Nothing was truncated or deleted.
    assert.deepEqual(await segmentFiles(dir), files);
    assert.equal((await readFile(victim)).length, bytes.length);
  });

  it('refuses to start when a segment in the middle is missing', async () => {
    await fill(30, 100, { segment_size_mib: KIB_IN_MIB });
    const files = await segmentFiles(dir);
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, files[1]!));
    const { spool } = makeSpool(spoolConfig(dir, { segment_size_mib: KIB_IN_MIB }));
    await assert.rejects(spool.start(), { code: 'TS_SPOOL_CORRUPT' });
  });

  it('refuses a bad header in front of data even in the last segment', async () => {
    await fill(3);
    const [seg] = await segmentFiles(dir);
    const path = join(dir, seg!);
    const fh = await open(path, 'r+');
    await fh.write(Buffer.from('XXXX'), 0, 4, 0);
    await fh.close();
    const { spool } = makeSpool(spoolConfig(dir));
    await assert.rejects(spool.start(), { code: 'TS_SPOOL_CORRUPT' });
  });
});

describe('LocalSpool directory lock', () => {
  it('refuses a directory held by another live process', async () => {
    await writeFile(join(dir, 'LOCK'), String(process.ppid));
    const { spool } = makeSpool(spoolConfig(dir));
    await assert.rejects(spool.start(), { code: 'TS_SPOOL_LOCKED' });
  });

  it('takes over a lock left by a dead process', async () => {
    await writeFile(join(dir, 'LOCK'), '999999999');
    const { spool } = makeSpool(spoolConfig(dir));
    await spool.start();
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
    await spool.shutdown();
  });
});

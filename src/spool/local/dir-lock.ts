import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SpoolLockedError } from './errors.ts';

const LOCK_FILE = 'LOCK';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else, which still means "in use".
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `dir` for this process with a pid file. Node has no flock, and a pid file left by a killed
 * process must not block the restart, so a lock whose process is gone (or is us: a restart in the
 * same process, pid 1 in a restarted container) is taken over. Returns the release function.
 */
export async function acquireDirLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  const mine = String(process.pid);
  try {
    await writeFile(path, mine, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new SpoolLockedError(dir, holder);
    }
    await writeFile(path, mine);
  }
  return async () => {
    const holder = await readFile(path, 'utf8').catch(() => '');
    if (holder.trim() === mine) await unlink(path).catch(() => undefined);
  };
}

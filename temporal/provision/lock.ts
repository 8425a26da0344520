import fs from 'node:fs';
import { isRunning } from '../../runtime/leftovers';

/**
 * A lock file holding its owner's pid, so a second process (another jest worker, `npm start`
 * beside `npm test`) waits for a build instead of repeating it. Returns the release function.
 */
export async function acquireLock(lockFile: string, onWait: (pid: number) => void): Promise<() => void> {
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
    if (!isRunning(holder)) {
      // Left behind by a killed process; its temp dir never got renamed, so nothing is half-built.
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (!announced) onWait(holder);
    announced = true;
    await new Promise((r) => setTimeout(r, 500));
  }
}


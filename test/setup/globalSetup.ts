import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../db/embedded';

/**
 * Starts the servers every test file shares, once per `jest` run. Jest workers inherit
 * process.env, so the addresses travel as environment variables.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  if (!process.env.TEST_DATABASE_URL) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-booking-test-'));
    const port = Number(process.env.TEST_POSTGRES_PORT ?? 5000 + Math.floor(Math.random() * 2000));
    const pg = await startEmbeddedPostgres({ dataDir, port, database: 'postgres' });
    process.env.TEST_DATABASE_URL = pg.url;
    (globalThis as Record<string, unknown>).__waTestTeardown = [
      async () => {
        await pg.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    ];
  }
  console.log(`\n[test setup] postgres ready in ${Date.now() - started} ms`);
}

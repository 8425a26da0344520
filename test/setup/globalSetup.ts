import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../config';
import { startEmbeddedPostgres } from '../../db/embedded';
import { findFreePort, startDevServer } from '../../temporal/devServer';
import { provisionTemporalCli, provisionTestServer } from '../../temporal/provision';

type TeardownStep = () => Promise<void>;

/**
 * Starts the servers every test file shares, once per `jest` run. Jest workers inherit
 * process.env, so addresses and binary paths travel as environment variables:
 * TEST_DATABASE_URL, TEST_TEMPORAL_ADDRESS, TEMPORAL_CLI_PATH, TEMPORAL_TEST_SERVER_PATH.
 * Preset TEST_DATABASE_URL / TEST_TEMPORAL_ADDRESS to use servers of your own instead.
 */
export default async function globalSetup(): Promise<void> {
  const teardown: TeardownStep[] = [];
  (globalThis as Record<string, unknown>).__waTestTeardown = teardown;
  const started = Date.now();
  const timed = async <T>(label: string, step: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const result = await step();
    console.log(`[test setup] ${label} in ${Date.now() - t0} ms`);
    return result;
  };
  console.log('');

  const results = await Promise.allSettled([
    timed('postgres ready', () => startPostgres(teardown)),
    timed('temporal ready', () => startTemporal(teardown)),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // Jest skips globalTeardown when globalSetup throws: stop what did start.
    for (const step of teardown.reverse()) await step().catch(() => {});
    throw failed.reason;
  }
  console.log(`[test setup] done in ${Date.now() - started} ms`);
}

async function startPostgres(teardown: TeardownStep[]): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-booking-test-'));
  const port = Number(process.env.TEST_POSTGRES_PORT ?? 5000 + Math.floor(Math.random() * 2000));
  const pg = await startEmbeddedPostgres({ dataDir, port, database: 'postgres' });
  process.env.TEST_DATABASE_URL = pg.url;
  teardown.push(async () => {
    await pg.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
}

async function startTemporal(teardown: TeardownStep[]): Promise<void> {
  const cfg = loadConfig();
  const log = (line: string) => console.log(line);
  // Both at once: on a fresh machine one is a Go build and the other a Maven resolution.
  const [cli, testServer] = await Promise.all([provisionTemporalCli(cfg, { log }), provisionTestServer(cfg, { log })]);
  process.env.TEMPORAL_CLI_PATH = cli.path;
  process.env.TEMPORAL_TEST_SERVER_PATH = testServer.path;

  if (process.env.TEST_TEMPORAL_ADDRESS) return;
  const t0 = Date.now();
  // In memory and headless: nothing to clean up, nothing to wait for but the frontend.
  const server = await startDevServer({ cliPath: cli.path, port: await findFreePort(), headless: true, namespace: 'default' });
  process.env.TEST_TEMPORAL_ADDRESS = server.address;
  teardown.push(server.stop);
  log(`[test setup] temporal dev server at ${server.address} in ${Date.now() - t0} ms`);
}

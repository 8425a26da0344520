import { loadConfig } from '../config';
import { provisionTemporalCli, provisionTestServer } from '../temporal/provision';

/**
 * `npm run provision`: makes both Temporal servers available without temporal.download
 * (see temporal/provision.ts), so the first `npm start` or `npm test` need not wait for it.
 */
async function main(): Promise<void> {
  const cfg = loadConfig();
  const started = Date.now();
  const cli = await provisionTemporalCli(cfg);
  const testServer = await provisionTestServer(cfg);
  console.log(`
Temporal dev server CLI:         ${cli.path}  (${cli.source}, ${cli.ms} ms)
Temporal time-skipping server:   ${testServer.path}  (${testServer.source}, ${testServer.ms} ms)
Total: ${((Date.now() - started) / 1000).toFixed(1)}s. Set TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH to use other binaries.`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

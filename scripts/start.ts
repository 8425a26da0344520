/**
 * `npm start`: the whole system in one command. Whatever is not configured runs embedded:
 * PostgreSQL from node_modules when DATABASE_URL is unset, the Temporal dev server (SQLite
 * in DATA_DIR, web UI on TEMPORAL_UI_PORT) when TEMPORAL_ADDRESS is unset. Then migrations,
 * the worker and the API, in this process. Ctrl-C stops all of it; DATA_DIR keeps the data.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { obtainAdminToken, type AdminToken } from '../config/adminToken';
import { resolvePayloadKeys } from '../config/payloadKeys';
import { createLogger } from '../observability/logger';
import { EmbeddedPostgresError, startEmbeddedPostgres } from '../db/embedded';
import { provisionTemporalCli, ProvisionError } from '../temporal/provision';
import { startDevServer } from '../temporal/devServer';
import { startSystem } from '../runtime/system';

async function main() {
  const startedAt = Date.now();
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const say = (line: string) => console.log(`[start +${((Date.now() - startedAt) / 1000).toFixed(1)}s] ${line}`);
  fs.mkdirSync(config.dataDir, { recursive: true });

  const stops: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping ... (Ctrl-C again to force)');
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(err));
    process.exit(code);
  };
  const onSignal = () => {
    // A second signal does not wait for a stuck stop; the exit hooks of embedded-postgres and
    // temporal/devServer.ts still take the servers down with the process.
    if (stopping) process.exit(1);
    void stopAll(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    let databaseUrl = config.DATABASE_URL;
    if (!databaseUrl) {
      say(`starting embedded PostgreSQL (data in ${path.join(config.dataDir, 'postgres')}) ...`);
      const pg = await startEmbeddedPostgres({
        dataDir: config.dataDir,
        port: config.EMBEDDED_POSTGRES_PORT,
        announce: say,
      });
      stops.push(() => pg.stop());
      databaseUrl = pg.url;
      // `npm run seed` and psql users find the embedded server here.
      fs.writeFileSync(path.join(config.dataDir, 'database-url'), `${databaseUrl}\n`, { mode: 0o600 });
    }

    let temporalAddress = config.TEMPORAL_ADDRESS;
    let temporalUi: string | undefined;
    // The API is not listening yet, but its port is known unless the OS is to pick it. The UI
    // sends the codec cookie only to this exact origin, so the banner prints the same one.
    const codecEndpoint = config.PORT
      ? `http://${!config.HOST || config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST}:${config.PORT}/codec`
      : undefined;
    if (!temporalAddress) {
      const cli = await provisionTemporalCli(config, { log: say });
      say('starting the Temporal dev server ...');
      const server = await startDevServer({
        cliPath: cli.path,
        dbFile: path.join(config.dataDir, 'temporal.sqlite'),
        port: config.TEMPORAL_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        uiCodecEndpoint: codecEndpoint,
        pidFile: path.join(config.dataDir, 'temporal.pid'),
        logFile: path.join(config.dataDir, 'temporal.log'),
        log: (line) => logger.debug(line),
        announce: say,
      });
      stops.push(() => server.stop());
      temporalAddress = server.address;
      temporalUi = server.uiUrl;
    }

    const adminToken = obtainAdminToken(config);
    // Generated into DATA_DIR on the first embedded start, like the admin token.
    const payloadKeys = resolvePayloadKeys(config);
    const system = await startSystem({
      config,
      logger,
      databaseUrl,
      temporalAddress,
      adminToken: adminToken.token,
      payloadKeys,
      log: say,
      temporalUiUrl: temporalUi,
    });
    stops.push(() => system.stop());

    console.log(
      [
        '',
        `  wa-booking is up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
        `  API          ${system.apiUrl}   (health: /health)`,
        ...system.extraUrls.map((u) => `  ${u.label.padEnd(12)} ${u.url}`),
        `  Temporal UI  ${temporalUi ?? `(external Temporal at ${temporalAddress})`}`,
        ...(temporalUi && codecEndpoint ? [`  UI decoding  ${codecEndpoint}/login   (sign in once with the admin token)`] : []),
        `  Admin token  ${describeAdminToken(adminToken)}`,
        `  Data         ${config.dataDir}`,
        '',
        '  Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  } catch (err) {
    console.error(explained(err) ? err.message : err);
    await stopAll(1);
  }
}

/** Errors that tell the operator what to do: a stack trace would only bury that. */
const explained = (err: unknown): err is Error =>
  err instanceof ConfigError || err instanceof ProvisionError || err instanceof EmbeddedPostgresError;

/**
 * Terminal output outlives the session (scrollback, CI logs, screen recordings): a token is
 * shown only the one time it was made here, never one the operator already has.
 */
function describeAdminToken({ token, origin, file }: AdminToken): string {
  if (origin === 'env') return 'from ADMIN_API_TOKEN';
  if (origin === 'file') return `kept in ${file}`;
  return `${token}   (generated now, shown once; kept in ${file})`;
}

main().catch((err) => {
  console.error(explained(err) ? err.message : err);
  process.exit(1);
});

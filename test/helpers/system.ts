import { loadConfig, type Config } from '../../config';
import { resolvePayloadKeys } from '../../config/payloadKeys';
import { createLogger, type Logger } from '../../observability/logger';
import { startSystem, type RunningSystem } from '../../runtime/system';
import { createTestDatabase, type TestDatabase } from './db';
import { connectDevServer, TEST_PAYLOAD_KEYS, uniqueId, type DevServerConnection } from './temporal';

export interface TestSystem {
  t: TestDatabase;
  dev: DevServerConnection;
  config: Config;
  system: RunningSystem;
  adminToken: string;
  /** Stops the system, then the connections and the database, in that order. */
  stop(): Promise<void>;
}

/**
 * The whole system as `npm start` wires it (runtime/system.ts): API on an ephemeral port,
 * worker and webhook inbox, on a fresh database and the shared dev server with a task queue
 * of its own. `env` adds or overrides variables (e.g. WHATSAPP_* for a fake Graph API);
 * `opts.logger` hears what the system logs (silent by default).
 */
export async function startTestSystem(name: string, env: Record<string, string> = {}, opts: { logger?: Logger } = {}): Promise<TestSystem> {
  // connectDevServer also installs the quiet Temporal runtime the system's worker logs through.
  const [t, dev] = await Promise.all([createTestDatabase(), connectDevServer()]);
  const adminToken = `${name}-admin-token-0123456789`;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: t.url,
    TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: uniqueId(name),
    ADMIN_API_TOKEN: adminToken,
    TEMPORAL_PAYLOAD_KEYS: TEST_PAYLOAD_KEYS,
    LOG_LEVEL: 'silent',
    ...env,
  });
  const system = await startSystem({
    config,
    logger: opts.logger ?? createLogger('silent'),
    databaseUrl: t.url,
    temporalAddress: config.TEMPORAL_ADDRESS!,
    adminToken,
    payloadKeys: resolvePayloadKeys(config),
  });
  return {
    t,
    dev,
    config,
    system,
    adminToken,
    async stop() {
      await system.stop();
      await dev.close();
      await t.drop();
    },
  };
}

import { ConfigError, loadConfig } from '../config';
import { resolveAdminToken } from '../config/adminToken';
import { resolvePayloadKeys, type PayloadKey } from '../config/payloadKeys';
import { createLogger } from '../observability/logger';
import { startSystem } from './system';

/**
 * Entry point of one production process. It needs external servers: `npm start` is the
 * command that runs embedded ones.
 */
export function runRole(role: 'api' | 'worker'): void {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  }
  const logger = createLogger(config.LOG_LEVEL, `wa-booking-${role}`);
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) {
    logger.fatal('DATABASE_URL and TEMPORAL_ADDRESS must be set for a production process; use `npm start` for the embedded stack');
    process.exit(1);
  }
  let payloadKeys: PayloadKey[];
  try {
    payloadKeys = resolvePayloadKeys(config);
  } catch (err) {
    logger.fatal((err as Error).message);
    process.exit(1);
  }
  startSystem({
    config,
    logger,
    databaseUrl: config.DATABASE_URL,
    temporalAddress: config.TEMPORAL_ADDRESS,
    adminToken: resolveAdminToken(config),
    payloadKeys,
    roles: { api: role === 'api', worker: role === 'worker' },
  }).then(
    (system) => {
      const shutdown = () => void system.stop().then(() => process.exit(0));
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    },
    (err) => {
      logger.fatal({ err }, `${role} failed to start`);
      process.exit(1);
    },
  );
}

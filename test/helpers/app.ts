import type { Client } from '@temporalio/client';
import { createApp, type AppDeps } from '../../api/app';
import { loadConfig } from '../../config';
import { createLogger } from '../../observability/logger';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

/**
 * Stands in for the Temporal client where a test needs only the health probe. Tests of
 * anything that starts or signals workflows pass a real client instead.
 */
export function fakeTemporal(getSystemInfo: () => Promise<unknown> = async () => ({})): Client {
  return { workflowService: { getSystemInfo } } as unknown as Client;
}

/** createApp with quiet test defaults; `db` is the test's own database. */
export function createTestApp(deps: Pick<AppDeps, 'db'> & Partial<AppDeps>) {
  return createApp({
    config: loadConfig({ NODE_ENV: 'test' }),
    temporal: fakeTemporal(),
    logger: createLogger('silent'),
    adminToken: TEST_ADMIN_TOKEN,
    ...deps,
  });
}

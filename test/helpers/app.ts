import type { Client } from '@temporalio/client';
import type { Response } from 'supertest';
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

/** Every error in the one shape, and nothing internal in it. */
export function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.type).toBe('application/json');
  expect(res.body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
  expect(Object.keys(res.body.error).every((k) => ['code', 'message', 'details'].includes(k))).toBe(true);
  expect(res.text).not.toMatch(/\bat .+:\d+:\d+|node_modules|select |insert /i);
}

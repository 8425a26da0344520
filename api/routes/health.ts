import { Router } from 'express';
import type { AppDeps } from '../app';
import type { Logger } from '../../observability/logger';

const CHECK_TIMEOUT_MS = 2_000;

/** "ok", or "failed: <short reason>"; never waits longer than CHECK_TIMEOUT_MS. */
async function check(name: string, probe: () => PromiseLike<unknown>, log: Logger): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (err) {
    log.warn({ err, check: name }, 'health check failed');
    const message = err instanceof Error ? err.message : String(err);
    return `failed: ${message.split('\n')[0].slice(0, 120)}`;
  } finally {
    clearTimeout(timer);
  }
}

/** GET /health for load balancers and `npm start`: 200 when Postgres and Temporal both answer, else 503. */
export function healthRouter({ db, temporal }: Pick<AppDeps, 'db' | 'temporal'>): Router {
  const router = Router();
  router.get('/health', async (req, res) => {
    const [postgres, temporalStatus] = await Promise.all([
      check('postgres', () => db.raw('select 1'), req.log),
      check('temporal', () => temporal.workflowService.getSystemInfo({}), req.log),
    ]);
    const ok = postgres === 'ok' && temporalStatus === 'ok';
    res
      .status(ok ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status: ok ? 'ok' : 'unavailable', checks: { postgres, temporal: temporalStatus } });
  });
  return router;
}

import { Router } from 'express';
import type { AppDeps } from '../app';
import type { Logger } from '../../observability/logger';

const CHECK_TIMEOUT_MS = 2_000;

/**
 * "ok", "failed: no answer within ..." or "failed"; never waits longer than CHECK_TIMEOUT_MS.
 * Anyone may call /health, so the error itself (hosts, ports) goes to the log only.
 */
async function check(name: string, probe: () => PromiseLike<unknown>, log: Logger): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const slow = `failed: no answer within ${CHECK_TIMEOUT_MS} ms`;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(slow), CHECK_TIMEOUT_MS);
  });
  try {
    const outcome = await Promise.race([Promise.resolve(probe()).then(() => 'ok'), timeout]);
    if (outcome === slow) log.warn({ check: name }, 'health check timed out');
    return outcome;
  } catch (err) {
    log.warn({ err, check: name }, 'health check failed');
    return 'failed';
  } finally {
    clearTimeout(timer);
  }
}

/** GET /health for load balancers and docker-compose's healthcheck: 200 when Postgres and Temporal both answer, else 503. */
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

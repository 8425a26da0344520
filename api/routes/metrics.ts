import { Router } from 'express';
import type { AppDeps } from '../app';
import { requireBearer } from '../auth';
import { registry } from '../../observability/metrics';

/**
 * GET /metrics in Prometheus' text format. Open when METRICS_TOKEN is unset (a scraper on a
 * private network); with it, only `Authorization: Bearer <METRICS_TOKEN>` gets in, since
 * the series name routes, outcomes and volumes that are nobody else's business.
 */
export function metricsRouter({ config }: Pick<AppDeps, 'config'>): Router {
  const router = Router();
  if (config.METRICS_TOKEN !== undefined) router.use('/metrics', requireBearer(config.METRICS_TOKEN, 'metrics', 'metrics'));
  router.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(await registry.metrics());
  });
  return router;
}

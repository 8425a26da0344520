import { createHash, timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import type { AppDeps } from '../app';
import { unauthorized } from '../errors';
import { registry } from '../../observability/metrics';

const REALM = 'Bearer realm="metrics"';

// Hashing first gives equal-length inputs, which timingSafeEqual needs, without leaking the token's length.
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * GET /metrics in Prometheus' text format. Open when METRICS_TOKEN is unset (a scraper on a
 * private network); with it, only `Authorization: Bearer <METRICS_TOKEN>` gets in, since
 * the series name routes, outcomes and volumes that are nobody else's business.
 */
export function metricsRouter({ config }: Pick<AppDeps, 'config'>): Router {
  const router = Router();
  const expected = config.METRICS_TOKEN === undefined ? undefined : digest(config.METRICS_TOKEN);
  router.get('/metrics', async (req, res) => {
    if (expected) {
      const presented = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1];
      if (presented === undefined) throw unauthorized('a metrics bearer token is required', REALM);
      if (!timingSafeEqual(digest(presented), expected)) {
        throw unauthorized('the metrics token is not valid', `${REALM}, error="invalid_token"`);
      }
    }
    res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(await registry.metrics());
  });
  return router;
}

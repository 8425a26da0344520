import express, { Router } from 'express';
import type { Config } from '../../config';
import { decisionBacklog } from '../../db/backlog';
import type { Db } from '../../db/knex';
import { inboxStats } from '../../db/messages';
import {
  decisionBacklogBookings,
  decisionBacklogOldestSeconds,
  inboxDeadRows,
  inboxLagSeconds,
  inboxPendingRows,
  registry,
} from '../../observability/metrics';
import { requireBearer } from '../auth';
import { errorHandler, notFoundHandler } from '../errors';

/**
 * Gauges read from the database when scraped, so they are as fresh as the scrape: the
 * decision backlog and the webhook inbox, each through partial indexes of the few rows that
 * wait (migrations 003 and 005), whatever the size of the tables.
 */
async function refreshDatabaseGauges(db: Db): Promise<void> {
  const [backlog, inbox] = await Promise.all([decisionBacklog(db), inboxStats(db)]);
  decisionBacklogBookings.set(backlog.pending);
  decisionBacklogOldestSeconds.set(backlog.oldestSeconds);
  inboxPendingRows.set(inbox.pending);
  inboxDeadRows.set(inbox.dead);
  inboxLagSeconds.set(inbox.lagSeconds);
}

/**
 * GET /metrics in Prometheus' text format. Open when METRICS_TOKEN is unset (a scraper on a
 * private network); with it, only `Authorization: Bearer <METRICS_TOKEN>` gets in, since
 * the series name routes, outcomes and volumes that are nobody else's business. With `db`
 * (the API's) the database gauges are read at each scrape; a database that does not answer
 * leaves them as they were and the rest is still served.
 */
export function metricsRouter({ config, db }: { config: Pick<Config, 'METRICS_TOKEN'>; db?: Db }): Router {
  const router = Router();
  if (config.METRICS_TOKEN !== undefined) router.use('/metrics', requireBearer(config.METRICS_TOKEN, 'metrics', 'metrics'));
  router.get('/metrics', async (req, res) => {
    if (db) await refreshDatabaseGauges(db).catch((err) => req.log.warn({ err }, 'database gauges not refreshed'));
    res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(await registry.metrics());
  });
  return router;
}

/** What a worker-only process serves at WORKER_METRICS_BIND: its own counters, no database gauges (the API's). */
export function metricsApp(config: Pick<Config, 'METRICS_TOKEN'>): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(metricsRouter({ config }));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

import type { Client } from '@temporalio/client';
import express, { type Router } from 'express';
import type { Config } from '../config';
import { resolveCredentialKeys } from '../config/credentialKeys';
import type { PayloadKey } from '../config/payloadKeys';
import type { BookingStatusFeed } from '../db/bookingEvents';
import type { Db } from '../db/knex';
import type { Logger } from '../observability/logger';
import { lazyCredentialCipher } from '../whatsapp/accounts/credentials';
import { authenticateAdminApi } from './auth';
import { confineManagers } from './console/scope';
import { consoleSigningKey } from './console/tokens';
import { errorHandler, notFoundHandler } from './errors';
import { apiReferenceRouter } from './openapi/router';
import { requestContext, requestMetrics } from './requestContext';
import { adminBookingsRouter } from './routes/admin/bookings';
import { adminInboxRouter } from './routes/admin/inbox';
import { adminMessagesRouter } from './routes/admin/messages';
import { restaurantsRouter } from './routes/admin/restaurants';
import { adminStatsRouter } from './routes/admin/stats';
import { restaurantEventsRouter } from './routes/admin/restaurantEvents';
import { whatsappAccountsRouter } from './routes/admin/whatsappAccounts';
import { bookingsRouter } from './routes/bookings';
import { CONSOLE_PATH, consoleRouter } from './routes/console';
import { codecRouter, type CodecDeps } from './routes/codec';
import { healthRouter } from './routes/health';
import { metricsRouter } from './routes/metrics';
import { SANDBOX_PATH, sandboxRouter, type SandboxDeps } from './routes/sandbox';
import { createWahaWebhookRouter } from './routes/wahaWebhook';

export interface AppDeps {
  config: Config;
  db: Db;
  temporal: Client;
  logger: Logger;
  /** From resolveAdminToken(config). */
  adminToken: string;
  /** The WhatsApp webhook (createWhatsAppWebhookRouter); its inbox lives as long as the process. */
  webhook?: Router & { inbox?: { kick(): void } };
  /** Seal the WhatsApp accounts' credentials; unset: resolveCredentialKeys(config), on first use. */
  whatsappCredentialKeys?: PayloadKey[];
  /** Serves GET /api/bookings/:id/events; absent where a test has no use for it. */
  bookingEvents?: BookingStatusFeed;
  /** Sandbox mode only: /sandbox, the page that plays WhatsApp for the guest and the managers. */
  sandbox?: SandboxDeps;
  /** POST /codec/decode and /codec/encode for the Temporal UI; the token is the admin token. */
  codec?: Omit<CodecDeps, 'adminToken'>;
}

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');

  app.use(requestContext(deps.logger), requestMetrics);
  app.use(healthRouter(deps));
  app.use(metricsRouter(deps));
  app.use(apiReferenceRouter());

  // Before the parser, so an anonymous caller cannot make us read a body.
  const consoleKey = consoleSigningKey(deps.config, deps.adminToken);
  app.use('/admin-api', authenticateAdminApi({ adminToken: deps.adminToken, consoleKey, db: deps.db }));
  // Its own CORS, token check and a larger body limit than the API's JSON parser below.
  if (deps.codec) app.use('/codec', codecRouter({ ...deps.codec, adminToken: deps.adminToken }));
  const credentials = lazyCredentialCipher(() => deps.whatsappCredentialKeys ?? resolveCredentialKeys(deps.config));
  // Before the JSON parser: the webhooks' signatures are checked over the raw bytes.
  if (deps.webhook) app.use(deps.webhook);
  app.use(createWahaWebhookRouter({ ...deps, credentials, inbox: deps.webhook?.inbox }));
  app.use(express.json({ limit: '100kb' }));
  // After the parser: a manager's Approve is checked to be on their own behalf.
  app.use('/admin-api', confineManagers(deps.db));
  app.use('/admin-api', restaurantEventsRouter(deps));
  app.use('/admin-api/restaurants', restaurantsRouter(deps));
  app.use('/admin-api/whatsapp-accounts', whatsappAccountsRouter({ ...deps, credentials }));
  app.use('/admin-api/inbox', adminInboxRouter(deps));
  app.use('/admin-api/stats', adminStatsRouter(deps));
  app.use('/admin-api/messages', adminMessagesRouter(deps));
  app.use('/admin-api', adminBookingsRouter(deps));
  app.use('/api', bookingsRouter(deps));
  app.use(CONSOLE_PATH, consoleRouter({ db: deps.db, adminToken: deps.adminToken, consoleKey }));
  if (deps.sandbox) app.use(SANDBOX_PATH, sandboxRouter({ ...deps, credentials, sandbox: deps.sandbox }));

  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}

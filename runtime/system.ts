import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createApp } from '../api/app';
import { withBareRoutes } from '../api/bareRoutes';
import { createConsoleLinks } from '../api/console/link';
import { metricsApp } from '../api/routes/metrics';
import { sandboxPageUrl } from '../api/routes/sandbox';
import { uiOriginsOf } from '../api/routes/codec';
import { WAHA_WEBHOOK_PATH } from '../api/routes/wahaWebhook';
import { createWhatsAppWebhookRouter, WHATSAPP_WEBHOOK_PATH } from '../api/routes/whatsappWebhook';
import { listenHost, type Config } from '../config';
import { resolveCredentialKeys } from '../config/credentialKeys';
import type { PayloadKey } from '../config/payloadKeys';
import { listenForStatusChanges } from '../db/bookingEvents';
import { createDb, migrateLatest } from '../db/knex';
import { createPayloadEncryption } from '../temporal/codec';
import type { Logger } from '../observability/logger';
import { lazyCredentialCipher } from '../whatsapp/accounts/credentials';
import { createChannelFromConfig } from '../whatsapp/channelFromConfig';
import { startReconciler } from '../temporal/reconciler';
import { createBookingWorker } from '../worker/worker';
import { installTemporalRuntime } from './temporalRuntime';

export interface SystemOptions {
  config: Config;
  logger: Logger;
  databaseUrl: string;
  temporalAddress: string;
  adminToken: string;
  /** From resolvePayloadKeys(config): every Temporal client and worker here encrypts with them. */
  payloadKeys: PayloadKey[];
  /** Production runs the API and the worker as separate processes; `npm start` runs both here. */
  roles?: { api?: boolean; worker?: boolean };
  log?: (line: string) => void;
  /** The embedded Temporal web UI: the sandbox page links each booking's workflow to it, and it may call /codec. */
  temporalUiUrl?: string;
}

export interface RunningSystem {
  /** Where the API listens (with PORT=0, the port the OS chose). */
  apiUrl?: string;
  extraUrls: { label: string; url: string }[];
  stop(): Promise<void>;
}

/** Connects to Postgres and Temporal, migrates, and runs the API and/or the worker until stop(). */
export async function startSystem(o: SystemOptions): Promise<RunningSystem> {
  const { logger } = o;
  const log = o.log ?? ((line: string) => logger.info(line));
  const roles = { api: true, worker: true, ...o.roles };
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    // Emptied as it goes, so a second call (a failed start, then the caller's own stop) repeats nothing.
    for (let s = stops.pop(); s; s = stops.pop()) await s().catch((err) => logger.error({ err }, 'stop failed'));
  };

  let apiUrl: string | undefined;
  const encryption = createPayloadEncryption(o.payloadKeys);
  try {
    const db = createDb(o.databaseUrl, undefined, logger.child({ component: 'knex' }));
    stops.push(() => db.destroy());
    const applied = await migrateLatest(db);
    log(applied.length ? `migrations applied: ${applied.join(', ')}` : 'database schema is up to date');

    const channel = await createChannelFromConfig({ config: o.config, db, logger, apiAndWorker: roles.api && roles.worker });
    stops.push(() => channel.close());
    // From here on, in sandbox mode, the WhatsApp settings are the session's own.
    const { config, sandbox } = channel;
    const extraUrls = [...channel.urls];

    // The API before the worker: in sandbox mode the fake Graph API sends its webhooks to the
    // API, whose address is known only once it listens, and the worker may send at once.
    if (roles.api) {
      const connection = await Connection.connect({ address: o.temporalAddress });
      stops.push(() => connection.close());
      const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: encryption.dataConverter });
      // The /console command's links point at PUBLIC_URL, else at where this API listens (known below).
      const consoleLinks = createConsoleLinks({ db, config, adminToken: o.adminToken, listeningAt: () => apiUrl });
      const credentials = lazyCredentialCipher(() => resolveCredentialKeys(config));
      const webhook = createWhatsAppWebhookRouter({ config, db, temporal, logger, channel: channel.channel, consoleLinks, credentials });
      webhook.inbox.start();
      stops.push(() => webhook.inbox.stop());
      const bookingEvents = await listenForStatusChanges({ databaseUrl: o.databaseUrl, logger });
      stops.push(() => bookingEvents.close());
      const app = createApp({
        config,
        db,
        temporal,
        logger,
        adminToken: o.adminToken,
        webhook,
        bookingEvents,
        sandbox: sandbox && { graph: sandbox.graph, waha: sandbox.waha, wahaAccount: sandbox.wahaAccount, key: sandbox.key, temporalUiUrl: o.temporalUiUrl },
        codec: {
          codec: encryption.codec,
          namespace: config.TEMPORAL_NAMESPACE,
          uiOrigins: [...config.TEMPORAL_UI_ORIGIN, ...(o.temporalUiUrl ? uiOriginsOf(o.temporalUiUrl) : [])],
        },
      });
      const server = http.createServer(withBareRoutes(app, [{ method: 'POST', path: WHATSAPP_WEBHOOK_PATH, handle: webhook.receive }], logger));
      const host = listenHost(config, Boolean(sandbox));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.PORT, host, resolve);
      });
      stops.push(
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      );
      const { port } = server.address() as AddressInfo;
      apiUrl = `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`;
      log(`API listening on ${apiUrl}`);
      const reconciler = startReconciler({ db, temporal, config, logger });
      stops.push(() => reconciler.stop());
      if (sandbox) {
        sandbox.connect({ whatsapp: `${apiUrl}${WHATSAPP_WEBHOOK_PATH}`, waha: `${apiUrl}${WAHA_WEBHOOK_PATH}` });
        extraUrls.push({ label: 'Sandbox', url: sandboxPageUrl(apiUrl, sandbox.key) });
      }
    }

    if (roles.worker) {
      installTemporalRuntime(logger, { metricsBind: config.TEMPORAL_METRICS_BIND });
      // Without an API in this process nobody serves the metrics the worker counts.
      if (!roles.api && config.WORKER_METRICS_BIND) {
        const server = await listen(metricsApp(config), config.WORKER_METRICS_BIND);
        stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
        log(`worker metrics on http://${config.WORKER_METRICS_BIND}/metrics`);
      }
      const connection = await NativeConnection.connect({ address: o.temporalAddress });
      stops.push(() => connection.close());
      log('starting the worker ...');
      const worker: Worker = await createBookingWorker({
        config,
        connection,
        dataConverter: encryption.dataConverter,
        db,
        channel: channel.channel,
        logger,
      });
      let stopping = false;
      const running = worker.run().catch((err) => {
        if (stopping) throw err;
        // A worker that died on its own (e.g. Temporal lost for good) takes the process down in
        // order, through the same SIGTERM path as an operator's stop; the supervisor restarts it.
        logger.fatal({ err }, 'the worker stopped unexpectedly; shutting down');
        process.kill(process.pid, 'SIGTERM');
      });
      stops.push(async () => {
        stopping = true;
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
      });
      log(`worker polling task queue "${config.TEMPORAL_TASK_QUEUE}"`);
    }

    return { apiUrl, extraUrls, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** An HTTP server for `app` on `host:port`, once it listens. */
async function listen(app: http.RequestListener, bind: string): Promise<http.Server> {
  const at = bind.lastIndexOf(':');
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(bind.slice(at + 1)), bind.slice(0, at).replace(/^\[|\]$/g, ''), resolve);
  });
  return server;
}

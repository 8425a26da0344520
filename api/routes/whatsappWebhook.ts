import { Router } from 'express';
import type { Config } from '../../config';
import type { ConsoleLinks } from '../console/link';
import type { Db } from '../../db/knex';
import type { NotificationChannel } from '../../domain/notifications';
import type { Logger } from '../../observability/logger';
import { webhookEvents, webhookRejected } from '../../observability/metrics';
import { cloudNumbers, type CloudNumber } from '../../whatsapp/accounts/cloudNumbers';
import { CredentialSealError, lazyCredentialCipher, type CredentialCipher } from '../../whatsapp/accounts/credentials';
import { createInboundProcessor, isOutage, type WorkflowSignaller } from '../../whatsapp/inbound';
import { createDeliveryRecorder, createInbox, type Inbox, type RecordedDelivery } from '../../whatsapp/inbox';
import { constantTimeEqual, verifySignature } from '../../whatsapp/signature';
import { parseWebhook } from '../../whatsapp/webhookPayload';
import { burstMeter, eventLoopBusy } from '../../runtime/eventLoop';
import { type BareHandler, readBody } from '../bareRoutes';
import { ApiError, unavailable } from '../errors';

export const WHATSAPP_WEBHOOK_PATH = '/api/whatsapp/webhook';
/** Meta's deliveries are far smaller; a larger one is refused (413) before it is read. */
const MAX_DELIVERY_BYTES = 3 * 1024 * 1024;
// 500 deliveries a second: far above a restaurant's evening (a guest's claim, a manager's tap,
// three statuses per message we send), so ordinary traffic never slows the inbox.
const BURST_DELIVERIES_PER_100_MS = 50;
const OK_HEADERS = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '2' };

export interface WhatsAppWebhookDeps {
  config: Pick<
    Config,
    | 'WHATSAPP_APP_SECRET'
    | 'WHATSAPP_VERIFY_TOKEN'
    | 'WHATSAPP_PHONE_NUMBER_ID'
    | 'DEFAULT_LANGUAGE'
    | 'INBOX_CONCURRENCY'
    | 'INBOX_MAX_ATTEMPTS'
    | 'INBOUND_FLOOD_LIMIT_PER_MINUTE'
    | 'REJECT_REASON_WAIT'
  >;
  db: Db;
  /** A Temporal Client (only `client.workflow` is used). */
  temporal: WorkflowSignaller;
  logger: Logger;
  channel: NotificationChannel;
  /** Sign-in links the `/console` command sends (api/console/link.ts). */
  consoleLinks?: ConsoleLinks;
  /** Opens the accounts' app secrets; unset: none can be (a number with its own secret answers 503). */
  credentials?: () => CredentialCipher;
  /** How often the inbox looks for leftovers once started (default 5 s). */
  inboxIntervalMs?: number;
  /** The inbox's first retry delay (default 1 s). */
  inboxRetryDelayMs?: number;
}

/** The router, and the inbox behind it that the process starts at boot and stops at shutdown. */
export type WhatsAppWebhookRouter = Router & { inbox: Inbox; receive: BareHandler };

/**
 * GET and POST /api/whatsapp/webhook. Mount it before any JSON body parser: the signature
 * is checked over the raw bytes. A delivery is answered 200 only once it is stored, in one
 * statement (503 otherwise, so Meta redelivers); acting on it happens afterwards, in the
 * inbox, so a slow or absent Temporal never slows the answer. Each event is routed by its
 * `metadata.phone_number_id` to the default account (WHATSAPP_PHONE_NUMBER_ID; in sandbox
 * mode the session's) or a cloud_api account, and the delivery must be signed with those
 * numbers' app secret; an event for a number of no account of ours is stored as foreign and
 * never acted on.
 */
export function createWhatsAppWebhookRouter(deps: WhatsAppWebhookDeps): WhatsAppWebhookRouter {
  const { config, db } = deps;
  const logger = deps.logger.child({ component: 'whatsapp-webhook' });
  // Meta retries a delivery that is not acknowledged within seconds, and disables a webhook
  // that keeps being slow: during a burst of deliveries (Meta catching up after an outage, a
  // campaign's statuses), or while deliveries wait for their answer and the process is busy,
  // the inbox (which only delays work that is already stored) yields to them.
  let awaitingAnswer = 0;
  const busy = eventLoopBusy();
  const deliveries = burstMeter(BURST_DELIVERIES_PER_100_MS);
  const inbox = createInbox({
    db,
    logger: deps.logger,
    process: createInboundProcessor(deps),
    isOutage,
    concurrency: config.INBOX_CONCURRENCY,
    narrow: () => deliveries.bursting() || (awaitingAnswer > 0 && busy()),
    maxAttempts: config.INBOX_MAX_ATTEMPTS,
    intervalMs: deps.inboxIntervalMs,
    retryDelayMs: deps.inboxRetryDelayMs,
  });
  const numbers = cloudNumbers({ config, db, credentials: deps.credentials ?? lazyCredentialCipher(() => undefined) });
  const record = createDeliveryRecorder(db, {
    // Routed before recording: every event of ours carries its account.
    ours: (e) => e.accountId !== undefined,
    floodLimitPerMinute: config.INBOUND_FLOOD_LIMIT_PER_MINUTE,
    isOutage,
    stored,
  });
  const router = Router();

  // Meta's verification handshake when the callback URL is set: echo the challenge byte for byte.
  router.get(WHATSAPP_WEBHOOK_PATH, (req, res) => {
    const { 'hub.mode': mode, 'hub.verify_token': token, 'hub.challenge': challenge } = req.query;
    const expected = config.WHATSAPP_VERIFY_TOKEN;
    if (mode === 'subscribe' && typeof token === 'string' && typeof challenge === 'string' && expected && constantTimeEqual(token, expected)) {
      res.status(200).type('text/plain').send(challenge);
      return;
    }
    logger.warn({ mode: typeof mode === 'string' ? mode : undefined }, 'webhook verification refused');
    throw new ApiError('forbidden', 'webhook verification refused: wrong hub.mode or hub.verify_token');
  });

  /** POST: the server serves it ahead of express (api/bareRoutes.ts); the router mounts the same handler. */
  const receive: BareHandler = async (req, res) => {
    deliveries.arrived();
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_DELIVERY_BYTES);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'payload_too_large') {
        webhookRejected.inc({ reason: 'too_large' });
        logger.warn('webhook delivery over 3 MB refused');
      }
      throw err;
    }
    const header = req.headers['x-hub-signature-256'];
    const signature = Array.isArray(header) ? header[0] : header;
    let parsed: ReturnType<typeof parseWebhook> | undefined;
    let parseError: unknown;
    try {
      parsed = parseWebhook(JSON.parse(raw.toString('utf8')));
    } catch (err) {
      parseError = err;
    }

    // The numbers the delivery is for decide which app secret must have signed it.
    const routes = new Map<string | undefined, CloudNumber | undefined>();
    try {
      for (const e of parsed?.events ?? []) if (!routes.has(e.phoneNumberId)) routes.set(e.phoneNumberId, await numbers(e.phoneNumberId));
    } catch (err) {
      if (!(err instanceof CredentialSealError)) throw err;
      logger.error({ err }, "an account's app secret cannot be opened");
      throw unavailable("the number's app secret cannot be read now; redeliver later");
    }
    const ours = [...routes.values()].filter((n): n is CloudNumber => n !== undefined);
    const secrets = new Set((ours.length ? ours : [{ appSecret: config.WHATSAPP_APP_SECRET }]).map((n) => n.appSecret));
    if ([...secrets].some((secret) => !secret || !verifySignature(raw, signature, secret))) {
      webhookRejected.inc({ reason: 'bad_signature' });
      const reason = secrets.has(undefined) ? 'no app secret for the number (WHATSAPP_APP_SECRET is not set)' : signature ? 'wrong signature' : 'missing signature';
      logger.warn({ reason, ip: req.socket.remoteAddress, bytes: raw.length }, 'webhook delivery refused');
      throw new ApiError('unauthorized', 'the X-Hub-Signature-256 header does not match the body');
    }

    if (!parsed) {
      // Signed by Meta yet unreadable: refusing keeps it coming back until a fix can read it.
      webhookRejected.inc({ reason: 'invalid_payload' });
      logger.error({ err: parseError, bytes: raw.length }, 'webhook delivery could not be parsed');
      throw new ApiError('bad_request', 'the webhook body is not a WhatsApp Cloud API notification');
    }
    if (parsed.skipped) logger.warn({ skipped: parsed.skipped }, 'webhook items without the fields we need were skipped');
    for (const e of parsed.events) {
      const number = routes.get(e.phoneNumberId);
      if (number) e.accountId = number.accountId;
    }

    awaitingAnswer++;
    try {
      await record(parsed.events);
    } catch (err) {
      logger.error({ err }, 'webhook delivery not stored; Meta will redeliver');
      throw unavailable('the delivery could not be stored; redeliver later');
    } finally {
      awaitingAnswer--;
    }
    res.writeHead(200, OK_HEADERS).end('OK');
  };
  router.post(WHATSAPP_WEBHOOK_PATH, (req, res, next) => void receive(req, res).catch(next));

  /** Once per write, which may carry several deliveries. */
  function stored({ messages: m, statuses: st, foreignStatuses }: RecordedDelivery) {
    webhookEvents.inc({ kind: 'message', outcome: 'applied' }, m.inserted - m.skipped - m.foreign);
    webhookEvents.inc({ kind: 'message', outcome: 'skipped' }, m.skipped);
    webhookEvents.inc({ kind: 'message', outcome: 'foreign' }, m.foreign);
    webhookEvents.inc({ kind: 'message', outcome: 'duplicate' }, m.duplicates);
    webhookEvents.inc({ kind: 'status', outcome: 'applied' }, st.inserted);
    webhookEvents.inc({ kind: 'status', outcome: 'duplicate' }, st.duplicates);
    webhookEvents.inc({ kind: 'status', outcome: 'foreign' }, foreignStatuses);
    if (m.foreign || foreignStatuses) {
      logger.warn({ messages: m.foreign, statuses: foreignStatuses }, 'signed delivery for another phone_number_id: not acted on');
    }
    if (m.inserted > m.foreign || st.applied) inbox.kick();
  }

  return Object.assign(router, { inbox, receive });
}

import express, { Router } from 'express';
import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import { findOutboundByProviderMessageId } from '../../db/messages';
import { findAccountBySession, recordSessionStatus } from '../../db/whatsappAccounts';
import type { Logger } from '../../observability/logger';
import { webhookRejected } from '../../observability/metrics';
import { CredentialSealError, type CredentialCipher } from '../../whatsapp/accounts/credentials';
import { isOutage } from '../../whatsapp/inbound';
import { createDeliveryRecorder, type RecordedDelivery } from '../../whatsapp/inbox';
import {
  parseWahaDelivery,
  sessionOf,
  verifyWahaSignature,
  WAHA_HMAC_ALGORITHM_HEADER,
  WAHA_HMAC_HEADER,
  WahaPayloadError,
  type WahaDelivery,
} from '../../whatsapp/waha/events';
import { choiceOfReply, numberedChoices, replyNumber } from '../../whatsapp/waha/numbered';
import { clean, type WebhookEvent } from '../../whatsapp/webhookPayload';
import { ApiError, unavailable } from '../errors';

export const WAHA_WEBHOOK_PATH = '/api/waha/webhook';

export interface WahaWebhookDeps {
  config: Pick<Config, 'INBOUND_FLOOD_LIMIT_PER_MINUTE'>;
  db: Db;
  logger: Logger;
  /** Opens the accounts' webhook HMAC keys. */
  credentials: () => CredentialCipher;
  /** The WhatsApp webhook's inbox, told to look now when a delivery gave it work (else it looks on its interval). */
  inbox?: { kick(): void };
}

/**
 * POST /api/waha/webhook: WAHA's events for every WAHA account, routed by session. Mount it
 * before any JSON body parser: the HMAC is checked over the raw bytes. A session with an
 * HMAC key gets only signed deliveries through (401 otherwise); `message` and `message.ack`
 * are stored in the durable inbox, in the Cloud API's event shape, before the 200 (503 when
 * they cannot be, so WAHA retries); `session.status` is kept on the account. A session no
 * account has is stored as foreign and ignored, as a Cloud API delivery for another number.
 *
 * WhatsApp Web has no reply buttons: our messages go out with numbered choices
 * (whatsapp/waha/numbered.ts), and a bare number quoting one of them is stored as the tap on
 * that choice, so the inbox acts on it exactly as on the button.
 */
export function createWahaWebhookRouter(deps: WahaWebhookDeps): Router {
  const { db } = deps;
  const logger = deps.logger.child({ component: 'waha-webhook' });
  const recorder = (ours: ((e: WebhookEvent) => boolean) | undefined) =>
    createDeliveryRecorder(db, {
      ours,
      floodLimitPerMinute: deps.config.INBOUND_FLOOD_LIMIT_PER_MINUTE,
      isOutage,
      stored: (recorded: RecordedDelivery) => {
        if (recorded.messages.foreign || recorded.foreignStatuses) {
          logger.warn({ messages: recorded.messages.foreign, statuses: recorded.foreignStatuses }, 'WAHA delivery for a session no account has: not acted on');
        }
        if (recorded.messages.inserted > recorded.messages.foreign || recorded.statuses.applied) deps.inbox?.kick();
      },
    });
  // Every event of a routed delivery is the account's: the session was looked up to get here.
  const routed = recorder(undefined);
  const unrouted = recorder(() => false);

  async function asTap(e: WebhookEvent): Promise<WebhookEvent> {
    if (e.type !== 'message' || e.kind !== 'text' || !e.contextId || replyNumber(e.text) === undefined) return e;
    const quoted = await findOutboundByProviderMessageId(db, e.contextId);
    const choice = quoted && choiceOfReply(e.text, numberedChoices(quoted.payload));
    return choice ? { ...e, kind: 'button', buttonId: choice.id, text: choice.title } : e;
  }

  const rejected = (reason: 'bad_signature' | 'invalid_payload', message: string) => {
    webhookRejected.inc({ reason });
    return new ApiError(reason === 'bad_signature' ? 'unauthorized' : 'bad_request', message);
  };

  const router = Router();
  router.post(WAHA_WEBHOOK_PATH, express.raw({ type: '*/*', limit: '1mb' }), async (req, res) => {
    const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let body: unknown;
    try {
      body = clean(JSON.parse(raw.toString('utf8')));
    } catch {
      body = undefined;
    }
    const session = sessionOf(body);
    if (session === undefined) {
      logger.warn({ bytes: raw.length }, 'WAHA delivery without a session refused');
      throw rejected('invalid_payload', 'the body is not a WAHA event (no session)');
    }
    const account = await findAccountBySession(db, session);

    if (account?.sealed.webhookHmacKey) {
      let key: string;
      try {
        key = deps.credentials().open('webhookHmacKey', account.sealed.webhookHmacKey);
      } catch (err) {
        if (!(err instanceof CredentialSealError)) throw err;
        // Not the sender's fault: refusing with 503 keeps WAHA retrying until the keys are fixed.
        logger.error({ err, accountId: account.id }, "the account's webhook HMAC key cannot be opened");
        throw unavailable("the account's webhook key cannot be read now; redeliver later");
      }
      const hmac = req.get(WAHA_HMAC_HEADER);
      if (!verifyWahaSignature(raw, { hmac, algorithm: req.get(WAHA_HMAC_ALGORITHM_HEADER) }, key)) {
        logger.warn({ accountId: account.id, reason: hmac ? 'wrong signature' : 'missing signature', ip: req.ip }, 'WAHA delivery refused');
        throw rejected('bad_signature', 'the X-Webhook-Hmac header does not match the body');
      }
    }

    let delivery: WahaDelivery;
    try {
      delivery = parseWahaDelivery(body);
    } catch (err) {
      if (!(err instanceof WahaPayloadError)) throw err;
      logger.warn({ err, accountId: account?.id }, 'WAHA delivery could not be parsed');
      throw rejected('invalid_payload', 'the body is not a WAHA event');
    }

    try {
      if (delivery.kind === 'sessionStatus') {
        if (account) await recordSessionStatus(db, account.id, delivery.status, delivery.at);
        else logger.warn({ status: delivery.status }, 'WAHA session status for a session no account has: ignored');
      } else if (delivery.kind === 'events') {
        if (delivery.skipped) logger.debug({ event: delivery.event, skipped: delivery.skipped }, 'WAHA event without a conversation to act on');
        // The account goes with each event: a reply goes out through the session it came on.
        if (delivery.events.length && account) await routed(await Promise.all(delivery.events.map((e) => asTap({ ...e, accountId: account.id }))));
        else if (delivery.events.length) await unrouted(delivery.events);
      }
    } catch (err) {
      logger.error({ err }, 'WAHA delivery not stored; WAHA will redeliver');
      throw unavailable('the delivery could not be stored; redeliver later');
    }
    res.sendStatus(200);
  });
  return router;
}

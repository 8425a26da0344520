import type { Config } from '../config';
import { claimOutbound, findOutboundByIdempotencyKey, markOutboundError, markOutboundSent } from '../db/messages';
import type { Db } from '../db/knex';
import { idempotencyKey, type Notification, type NotificationChannel, type SendResult } from '../domain/notifications';
import { maskPhone } from '../domain/phone';
import type { Logger } from '../observability/logger';
import { outboundMessages } from '../observability/metrics';
import { isWhatsAppSendError, OUTSIDE_WINDOW, WhatsAppSendError } from './errors';
import type { GraphClient } from './graphClient';
import { trackedAs, type OutboundMessage } from './messages';
import { renderNotification, renderTemplate, TEMPLATE_PURPOSES, type TemplateNames } from './render';

/**
 * How long a `sending` row without a wamid belongs to the attempt that claimed it. Longer than
 * any request can take (the Graph client times out at 15 s), and then some: when that attempt
 * died after Meta accepted its message, Meta's `sent` status webhook (usually seconds after
 * acceptance) stores the wamid through the send's callback data, and a retry returns it instead
 * of sending again. A retry sends again only when no status came within this time; a duplicate
 * needs Meta to accept a message AND its status webhooks to be late by that much.
 */
const SEND_LEASE_MS = 60_000;

interface Planned {
  key: string;
  message: OutboundMessage;
}

/**
 * The template form is keyed apart from the interactive message it replaces, so each of
 * the two is sent at most once.
 */
function templateKey(n: Notification): string {
  return `${idempotencyKey(n)}:template`;
}

function planTemplate(n: Notification, templates: TemplateNames): Planned {
  return { key: templateKey(n), message: renderTemplate(n, templates) };
}

const outbound = (n: Notification, p: Planned) => ({
  idempotencyKey: p.key,
  phone: n.recipient.phone,
  bookingId: n.booking?.id,
  purpose: n.purpose,
  payload: p.message,
});

/**
 * The WhatsApp Cloud API channel. Every message is recorded under its idempotency key before
 * it is sent, and carries its row's id as callback data; once a wamid is known for a key (from
 * Meta's answer or a status webhook), sending it again returns `reused` without a request.
 * Manager requests and guest reminders refused with 131047 (outside the 24-hour window) go out
 * as WHATSAPP_MANAGER_TEMPLATE or WHATSAPP_REMINDER_TEMPLATE instead.
 */
export function createWhatsAppChannel(deps: {
  config: Pick<Config, 'WHATSAPP_MANAGER_TEMPLATE' | 'WHATSAPP_REMINDER_TEMPLATE'>;
  db: Db;
  logger: Logger;
  graph: GraphClient;
  /** SEND_LEASE_MS unless a test needs it short. */
  sendLeaseMs?: number;
}): NotificationChannel {
  const { db, graph } = deps;
  const leaseMs = deps.sendLeaseMs ?? SEND_LEASE_MS;
  const logger = deps.logger.child({ component: 'whatsapp-channel' });

  async function deliver(n: Notification, p: Planned): Promise<SendResult> {
    const { claimed, row } = await claimOutbound(db, outbound(n, p), { status: 'sending', leaseMs });
    if (!claimed) {
      if (row.providerMessageId) {
        outboundMessages.inc({ purpose: n.purpose, outcome: 'reused' });
        return { status: 'sent', idempotencyKey: p.key, providerMessageId: row.providerMessageId, reused: true };
      }
      throw new WhatsAppSendError(undefined, 'another attempt is sending this message', {
        classification: { kind: 'retryable', reason: 'inProgress', retryAfterMs: leaseMs },
      });
    }
    const log = { purpose: n.purpose, bookingId: n.booking?.id, to: maskPhone(n.recipient.phone), type: p.message.type };
    let messageId: string;
    try {
      ({ messageId } = await graph.send(trackedAs(p.message, row.id)));
    } catch (err) {
      const e = isWhatsAppSendError(err) ? err : new WhatsAppSendError(undefined, String(err));
      await markOutboundError(db, row.id, { code: e.code, title: e.title }, !e.retryable);
      outboundMessages.inc({ purpose: n.purpose, outcome: e.retryable ? 'retrying' : 'failed' });
      logger.warn({ ...log, code: e.code, reason: e.reason, error: e.title }, 'whatsapp send refused');
      throw e;
    }
    // Meta has the message now. Should this process die before the next line, the status
    // webhook stores the wamid instead (see SEND_LEASE_MS).
    await markOutboundSent(db, row.id, messageId);
    outboundMessages.inc({ purpose: n.purpose, outcome: 'sent' });
    logger.info({ ...log, providerMessageId: messageId }, 'whatsapp message sent');
    return { status: 'sent', idempotencyKey: p.key, providerMessageId: messageId, reused: false };
  }

  const templates = { manager: deps.config.WHATSAPP_MANAGER_TEMPLATE, reminder: deps.config.WHATSAPP_REMINDER_TEMPLATE };
  const sendTemplate = (n: Notification) => deliver(n, planTemplate(n, templates));

  return {
    async send(n) {
      if (n.viaTemplate) return sendTemplate(n);
      const usesTemplate = TEMPLATE_PURPOSES.has(n.purpose);
      const key = idempotencyKey(n);
      if (usesTemplate) {
        // A retry after the interactive message was refused goes straight to the template.
        const earlier = await findOutboundByIdempotencyKey(db, key);
        if (earlier?.status === 'failed' && earlier.errorCode === OUTSIDE_WINDOW) return sendTemplate(n);
      }
      try {
        return await deliver(n, { key, message: renderNotification(n) });
      } catch (err) {
        if (usesTemplate && isWhatsAppSendError(err) && err.code === OUTSIDE_WINDOW) return sendTemplate(n);
        throw err;
      }
    },
  };
}

/**
 * The channel used when WhatsApp is not configured: the same records (rendered payload,
 * idempotency key) with status `queued`, and no request anywhere.
 */
export function createOutboxChannel(deps: { db: Db; templates?: TemplateNames }): NotificationChannel {
  const templates = deps.templates ?? { manager: 'booking_request', reminder: 'booking_reminder' };
  return {
    async send(n) {
      const p = n.viaTemplate ? planTemplate(n, templates) : { key: idempotencyKey(n), message: renderNotification(n) };
      const { claimed, row } = await claimOutbound(deps.db, outbound(n, p), { status: 'queued', leaseMs: 0 });
      outboundMessages.inc({ purpose: n.purpose, outcome: claimed ? 'queued' : 'reused' });
      return { status: 'queued', idempotencyKey: p.key, providerMessageId: row.providerMessageId ?? undefined, reused: !claimed };
    },
  };
}

import type { Config } from '../config';
import { claimOutbound, findOutboundByIdempotencyKey, markOutboundError, markOutboundSent } from '../db/messages';
import type { Db } from '../db/knex';
import { idempotencyKey, type Notification, type NotificationChannel, type SendResult } from '../domain/notifications';
import { maskPhone } from '../domain/phone';
import type { Logger } from '../observability/logger';
import { outboundMessages } from '../observability/metrics';
import { isWhatsAppSendError, OUTSIDE_WINDOW, WhatsAppSendError } from './errors';
import type { GraphClient } from './graphClient';
import type { SendLimiter } from './rateLimit';
import { trackedAs, type OutboundMessage } from './messages';
import { numberedReplyHint, renderNotification, renderTemplate, TEMPLATE_PURPOSES, type TemplateNames } from './render';
import type { WahaClient } from './waha/client';
import { asNumberedText } from './waha/numbered';

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

const outbound = (n: Notification, p: Planned, accountId?: number | null) => ({
  idempotencyKey: p.key,
  phone: n.recipient.phone,
  bookingId: n.booking?.id,
  purpose: n.purpose,
  payload: p.message,
  accountId,
});

/**
 * How one provider puts a recorded message on the wire: resolves with the provider's message
 * id, rejects with a WhatsAppSendError. `templates`: whether the provider has Meta's templates
 * (the Cloud API does, WhatsApp Web does not).
 */
interface Transmitter {
  templates: boolean;
  transmit(message: OutboundMessage, rowId: number, n: Notification): Promise<{ messageId: string }>;
}

interface ChannelDeps {
  config: Pick<Config, 'WHATSAPP_MANAGER_TEMPLATE' | 'WHATSAPP_REMINDER_TEMPLATE'>;
  db: Db;
  logger: Logger;
  /** The whatsapp_accounts row it sends through, recorded on each message; unset: the default account. */
  accountId?: number;
  /** Waits until the account may send to this recipient (Meta's and WhatsApp Web's rate limits). */
  limiter?: SendLimiter;
  /** SEND_LEASE_MS unless a test needs it short. */
  sendLeaseMs?: number;
}

/**
 * Every message is recorded under its idempotency key before it is sent; once a provider id is
 * known for a key (from the send's answer or a status webhook), sending it again returns
 * `reused` without a request. Manager requests and guest reminders refused with 131047
 * (outside the 24-hour window) go out as their template where the provider has templates.
 */
function createRecordedChannel(deps: ChannelDeps, wire: Transmitter): NotificationChannel {
  const { db } = deps;
  const leaseMs = deps.sendLeaseMs ?? SEND_LEASE_MS;
  const logger = deps.logger.child({ component: 'whatsapp-channel', ...(deps.accountId !== undefined && { accountId: deps.accountId }) });

  async function deliver(n: Notification, p: Planned): Promise<SendResult> {
    const { claimed, row } = await claimOutbound(db, outbound(n, p, deps.accountId), { status: 'sending', leaseMs });
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
      await deps.limiter?.take(n.recipient.phone);
      ({ messageId } = await wire.transmit(p.message, row.id, n));
    } catch (err) {
      const e = isWhatsAppSendError(err) ? err : new WhatsAppSendError(undefined, String(err));
      await markOutboundError(db, row.id, { code: e.code, title: e.title }, !e.retryable);
      outboundMessages.inc({ purpose: n.purpose, outcome: e.retryable ? 'retrying' : 'failed' });
      logger.warn({ ...log, code: e.code, reason: e.reason, error: e.title }, 'whatsapp send refused');
      throw e;
    }
    // The provider has the message now. Should this process die before the next line, a
    // Cloud API status webhook stores the wamid instead (see SEND_LEASE_MS).
    await markOutboundSent(db, row.id, messageId);
    outboundMessages.inc({ purpose: n.purpose, outcome: 'sent' });
    logger.info({ ...log, providerMessageId: messageId }, 'whatsapp message sent');
    return { status: 'sent', idempotencyKey: p.key, providerMessageId: messageId, reused: false };
  }

  const templates = { manager: deps.config.WHATSAPP_MANAGER_TEMPLATE, reminder: deps.config.WHATSAPP_REMINDER_TEMPLATE };
  // Without templates, the interactive form the template stands for, under the template's key.
  const sendTemplate = (n: Notification) =>
    deliver(n, wire.templates ? planTemplate(n, templates) : { key: templateKey(n), message: renderNotification(n) });

  return {
    async send(n) {
      if (n.viaTemplate) return sendTemplate(n);
      const usesTemplate = wire.templates && TEMPLATE_PURPOSES.has(n.purpose);
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
 * The WhatsApp Cloud API channel: each message carries its row's id as callback data, so a
 * status webhook can name the row even before the wamid is stored.
 */
export function createWhatsAppChannel(deps: ChannelDeps & { graph: GraphClient }): NotificationChannel {
  return createRecordedChannel(deps, {
    templates: true,
    transmit: (message, rowId) => deps.graph.send(trackedAs(message, rowId)),
  });
}

/**
 * The WAHA channel (WhatsApp Web): the rendered message as numbered text, with a line saying
 * what each number does. The rendered message stays the stored payload, so a numbered reply
 * quoting it reads back as the tap (whatsapp/waha/numbered.ts). WhatsApp Web has no
 * templates: a message that would be one goes out in its interactive form (as numbered text).
 * WAHA echoes nothing like Meta's callback data, so its acks cannot name a row whose id was
 * never stored: a worker that dies between WAHA's answer and storing the id sends that message
 * again on its retry, after SEND_LEASE_MS.
 */
export function createWahaChannel(deps: ChannelDeps & { waha: WahaClient }): NotificationChannel {
  return createRecordedChannel(deps, {
    templates: false,
    transmit: (message, _rowId, n) => {
      const hint = numberedReplyHint(n.recipient.language, message);
      const text = [asNumberedText(message), hint].filter(Boolean).join('\n\n');
      return deps.waha.sendText(n.recipient.phone, text, { replyTo: message.context?.message_id });
    },
  });
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

import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { constantTimeEqual } from '../signature';
import type { InboundMessageEvent, StatusEvent, WebhookEvent } from '../webhookPayload';

/**
 * WAHA's webhooks (https://waha.devlike.pro/docs/how-to/events/): one event per POST,
 * `{event, session, payload, me?, engine?, timestamp?}`, signed when the session's webhook has
 * an HMAC key. Turned here into the Cloud API's WebhookEvent shape, so the durable inbox
 * stores and acts on them as on Meta's.
 */

/** The headers WAHA signs with: the hex HMAC of the raw body, and the algorithm (always sha512). */
export const WAHA_HMAC_HEADER = 'x-webhook-hmac';
export const WAHA_HMAC_ALGORITHM_HEADER = 'x-webhook-hmac-algorithm';
const ALGORITHM = 'sha512';

/** X-Webhook-Hmac for a body: HMAC-SHA512 of the raw bytes, lowercase hex. */
export function signWaha(body: Buffer | string, key: string): string {
  return createHmac(ALGORITHM, key).update(body).digest('hex');
}

/** Checks the raw bytes as received (re-serialised JSON would differ); an algorithm other than sha512 fails. */
export function verifyWahaSignature(body: Buffer | string, headers: { hmac?: string; algorithm?: string }, key: string): boolean {
  if (headers.hmac === undefined) return false;
  if (headers.algorithm !== undefined && headers.algorithm.trim().toLowerCase() !== ALGORITHM) return false;
  return constantTimeEqual(headers.hmac.trim().toLowerCase(), signWaha(body, key));
}

/**
 * The account key WAHA events carry as their `phoneNumberId`: what the inbox compares to tell
 * ours from foreign ones. Meta's phone_number_ids are digits, so the two never meet.
 */
export const wahaAccountKey = (session: string) => `waha:${session}`;

/** `message.ack` levels (WAHA's WAMessageAck) → our outbound statuses; PENDING (0) says nothing new. */
const STATUS_BY_ACK: Record<string, string | undefined> = {
  ERROR: 'failed',
  PENDING: undefined,
  SERVER: 'sent',
  DEVICE: 'delivered',
  READ: 'read',
  PLAYED: 'played',
};
const ACK_NAMES: Record<number, string> = { [-1]: 'ERROR', 0: 'PENDING', 1: 'SERVER', 2: 'DEVICE', 3: 'READ', 4: 'PLAYED' };

export function statusOfAck(ack: { ack?: number; ackName?: string }): string | undefined {
  const name = ack.ackName ?? (ack.ack === undefined ? undefined : ACK_NAMES[ack.ack]);
  return name === undefined ? undefined : STATUS_BY_ACK[name];
}

// The largest time a Date holds: a stamp beyond it would reach Postgres as an invalid date.
const MAX_DATE_MS = 8.64e15;

const envelopeSchema = z.object({
  event: z.string().min(1),
  session: z.string().min(1),
  // Newer WAHA versions stamp every event (milliseconds).
  timestamp: z.number().nonnegative().max(MAX_DATE_MS).optional().catch(undefined),
  payload: z.unknown(),
});

/** Just enough to route a delivery before its signature can be checked with the account's key. */
export function sessionOf(body: unknown): string | undefined {
  const session = (body as { session?: unknown } | null)?.session;
  return typeof session === 'string' && session.length > 0 ? session : undefined;
}

const seconds = z.number().nonnegative().max(MAX_DATE_MS / 1000).transform(Math.floor).optional().catch(undefined);

const messageSchema = z.object({
  id: z.string().min(1),
  timestamp: seconds,
  from: z.string().min(1),
  fromMe: z.boolean().default(false),
  body: z.string().nullish(),
  hasMedia: z.boolean().default(false),
  replyTo: z.object({ id: z.string().min(1) }).nullish().catch(undefined),
  _data: z.object({ notifyName: z.string().optional(), pushName: z.string().optional() }).passthrough().optional().catch(undefined),
});

const ackSchema = z.object({
  id: z.string().min(1),
  to: z.string().optional(),
  fromMe: z.boolean().optional(),
  ack: z.number().int().optional(),
  ackName: z.string().optional(),
});

const sessionStatusSchema = z.object({ status: z.string().min(1).max(40) });

export type WahaDelivery =
  | { kind: 'events'; session: string; event: string; events: WebhookEvent[]; skipped: number }
  | { kind: 'sessionStatus'; session: string; status: string; at: Date }
  /** Events we do not subscribe to or act on (message.any, presence, ...): acknowledged, not stored. */
  | { kind: 'ignored'; session: string; event: string };

export class WahaPayloadError extends Error {
  override readonly name = 'WahaPayloadError';
}

/** `<digits>@c.us` and `<digits>@s.whatsapp.net` are people by number; groups, broadcasts and channels are not people. */
function personDigits(jid: string): string | undefined {
  const match = /^(\d{5,20})@(c\.us|s\.whatsapp\.net)$/.exec(jid);
  return match?.[1];
}

/** `<id>@lid`: a person WhatsApp shows us by a linked id instead of the number (its privacy setting). */
const linkedId = (jid: string) => (/^\d{1,30}@lid$/.test(jid) ? jid : undefined);

export function parseWahaDelivery(body: unknown, now: Date = new Date()): WahaDelivery {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) throw new WahaPayloadError(`not a WAHA event: ${envelope.error.issues[0]?.message}`);
  const { event, session, payload } = envelope.data;
  const account = wahaAccountKey(session);

  if (event === 'session.status') {
    const s = sessionStatusSchema.safeParse(payload);
    if (!s.success) throw new WahaPayloadError('a session.status event without a status');
    return { kind: 'sessionStatus', session, status: s.data.status, at: envelope.data.timestamp ? new Date(envelope.data.timestamp) : now };
  }

  if (event === 'message') {
    const m = messageSchema.safeParse(payload);
    const from = m.success ? personDigits(m.data.from) : undefined;
    const fromUserId = m.success && !from ? linkedId(m.data.from) : undefined;
    // Our own messages, and anyone's in a group, are not a conversation with the restaurant.
    if (!m.success || !(from || fromUserId) || m.data.fromMe) return { kind: 'events', session, event, events: [], skipped: 1 };
    const text = m.data.body ?? undefined;
    const message: InboundMessageEvent = {
      type: 'message',
      phoneNumberId: account,
      kind: text && !m.data.hasMedia ? 'text' : 'other',
      messageId: m.data.id,
      from,
      fromUserId,
      name: (m.data._data?.notifyName ?? m.data._data?.pushName)?.trim() || undefined,
      timestamp: m.data.timestamp,
      text,
      // WAHA names the quoted message by its bare id; the id we stored for it, when it is
      // one of ours sent to this chat, is WAHA's serialized form.
      contextId: m.data.replyTo && from ? `true_${from}@c.us_${m.data.replyTo.id}` : undefined,
      metaType: m.data.hasMedia ? 'waha:media' : 'waha:text',
      raw: payload,
    };
    return { kind: 'events', session, event, events: [message], skipped: 0 };
  }

  if (event === 'message.ack') {
    const a = ackSchema.safeParse(payload);
    if (!a.success || a.data.fromMe === false) return { kind: 'events', session, event, events: [], skipped: 1 };
    const status = statusOfAck(a.data);
    if (!status) return { kind: 'events', session, event, events: [], skipped: 0 };
    const failed = status === 'failed';
    const ack: StatusEvent = {
      type: 'status',
      phoneNumberId: account,
      messageId: a.data.id,
      status,
      timestamp: Math.floor((envelope.data.timestamp ?? now.getTime()) / 1000),
      recipientId: a.data.to ? personDigits(a.data.to) : undefined,
      errors: [],
      // What a failed row keeps as its error (whatsapp_apply_statuses reads errors[0]); WAHA gives no reason.
      raw: failed ? { ...(payload as object), errors: [{ title: 'WAHA reported the message failed (ack ERROR)' }] } : payload,
    };
    return { kind: 'events', session, event, events: [ack], skipped: 0 };
  }

  return { kind: 'ignored', session, event };
}

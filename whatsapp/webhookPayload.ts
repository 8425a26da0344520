import { z } from 'zod';
import { outboundIdOf } from './messages';

/**
 * Meta's webhook envelope turned into a flat list of events. Parsing is tolerant: unknown
 * fields are ignored, a message may lack `from` (users known only by a business-scoped id),
 * and one malformed item is skipped without losing the rest of a batch of up to 1000.
 */
export interface InboundMessageEvent {
  type: 'message';
  /** The business number it was sent to (`metadata.phone_number_id`). */
  phoneNumberId?: string;
  /** The account it arrived on, once the webhook routed it (whatsapp_accounts.id; null: the default account). */
  accountId?: number | null;
  /** text: a typed text; button: a reply-button, list or template quick-reply tap; other: anything else. */
  kind: 'text' | 'button' | 'other';
  messageId: string;
  /** The sender's phone as digits without `+`; absent for users known only by `fromUserId`. */
  from?: string;
  fromUserId?: string;
  /** The WhatsApp profile name from `contacts[]`. */
  name?: string;
  /** Unix seconds. */
  timestamp?: number;
  /** The typed text, or the tapped button's title. */
  text?: string;
  /** The tapped button's id (interactive) or payload (template quick reply). */
  buttonId?: string;
  /** The wamid of our message that a tap or reply refers to. */
  contextId?: string;
  /** Meta's `type` as received (text, interactive, button, image, ...). */
  metaType: string;
  /** The message object exactly as received, kept because Meta cannot resend it later. */
  raw: unknown;
}

export interface StatusEvent {
  type: 'status';
  /** The business number that sent the message (`metadata.phone_number_id`). */
  phoneNumberId?: string;
  /** The account it was reported on, once the webhook routed it (as for a message). */
  accountId?: number | null;
  /** The wamid of the message we sent. */
  messageId: string;
  status: string;
  timestamp?: number;
  recipientId?: string;
  /** Our whatsapp_messages row, from the `biz_opaque_callback_data` we sent with the message. */
  outboundId?: number;
  errors: { code: number; title?: string; message?: string; details?: string }[];
  raw: unknown;
}

export type WebhookEvent = InboundMessageEvent | StatusEvent;

const unixSeconds = z
  .union([z.string(), z.number()])
  .transform((v) => Number(v))
  .pipe(z.number().int().nonnegative())
  .optional()
  .catch(undefined);

const envelopeSchema = z.object({
  object: z.string(),
  entry: z.array(
    z.object({
      changes: z.array(z.object({ field: z.string(), value: z.unknown() })).default([]),
    }),
  ),
});

const valueSchema = z.object({
  metadata: z.object({ phone_number_id: z.string().optional() }).optional().catch(undefined),
  contacts: z
    .array(z.object({ wa_id: z.string().optional(), user_id: z.string().optional(), profile: z.object({ name: z.string().optional() }).optional() }))
    .optional()
    .catch(undefined),
  messages: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
});

const messageSchema = z.object({
  id: z.string().min(1),
  from: z.string().regex(/^\d{5,20}$/).optional().catch(undefined),
  from_user_id: z.string().optional(),
  timestamp: unixSeconds,
  type: z.string().default('unknown'),
  context: z.object({ id: z.string().optional() }).optional().catch(undefined),
  text: z.object({ body: z.string() }).optional().catch(undefined),
  interactive: z
    .object({
      type: z.string(),
      button_reply: z.object({ id: z.string(), title: z.string().optional() }).optional(),
      list_reply: z.object({ id: z.string(), title: z.string().optional() }).optional(),
    })
    .optional()
    .catch(undefined),
  // Without a payload set at send time the tap is said to carry the label (unconfirmed).
  button: z.object({ payload: z.string().optional(), text: z.string().optional() }).optional().catch(undefined),
});

const statusSchema = z.object({
  id: z.string().min(1),
  status: z.string().min(1),
  timestamp: unixSeconds,
  recipient_id: z.string().optional(),
  biz_opaque_callback_data: z.string().optional().catch(undefined),
  errors: z
    .array(
      z.object({
        code: z.number().int(),
        title: z.string().optional(),
        message: z.string().optional(),
        error_data: z.object({ details: z.string().optional() }).optional(),
      }),
    )
    .default([]),
});

export class WebhookPayloadError extends Error {
  override readonly name = 'WebhookPayloadError';
}

export interface ParsedWebhook {
  events: WebhookEvent[];
  /** Items that could not be read (no id, wrong types); reported, not fatal. */
  skipped: number;
}

// Postgres refuses U+0000 and lone surrogates in text and jsonb: one such character would
// refuse the whole delivery, and with it every valid message beside it.
const POISON = /[\u0000\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const cleanText = (s: string) => (POISON.test(s) ? s.replace(/\u0000/g, '').replace(LONE_SURROGATE, '\ufffd') : s);

/** Cleans every string (and key) of a freshly parsed JSON value in place: NUL removed, lone surrogate → U+FFFD. */
export function clean(value: unknown): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = clean(value[i]);
  } else if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const cleanKey = cleanText(key);
      const v = clean(record[key]);
      if (cleanKey !== key) delete record[key];
      record[cleanKey] = v;
    }
  }
  return value;
}

/** Reads a delivery as parsed by JSON.parse; its strings are cleaned in place (see `clean`). */
export function parseWebhook(body: unknown): ParsedWebhook {
  const envelope = envelopeSchema.safeParse(clean(body));
  if (!envelope.success) throw new WebhookPayloadError(`not a webhook envelope: ${envelope.error.issues[0]?.message}`);
  const events: WebhookEvent[] = [];
  let skipped = 0;
  for (const entry of envelope.data.entry) {
    for (const change of entry.changes) {
      if (change.field !== 'messages') continue;
      const value = valueSchema.safeParse(change.value);
      if (!value.success) {
        skipped++;
        continue;
      }
      const contacts = value.data.contacts ?? [];
      const phoneNumberId = value.data.metadata?.phone_number_id;
      for (const raw of value.data.messages ?? []) {
        const m = messageSchema.safeParse(raw);
        if (!m.success) {
          skipped++;
          continue;
        }
        const contact = contacts.find(
          (c) => (m.data.from && c.wa_id === m.data.from) || (m.data.from_user_id && c.user_id === m.data.from_user_id),
        );
        events.push({ ...toMessageEvent(m.data, contact?.profile?.name, raw), phoneNumberId });
      }
      for (const raw of value.data.statuses ?? []) {
        const s = statusSchema.safeParse(raw);
        if (!s.success) {
          skipped++;
          continue;
        }
        events.push({
          type: 'status',
          phoneNumberId,
          messageId: s.data.id,
          status: s.data.status,
          timestamp: s.data.timestamp,
          recipientId: s.data.recipient_id,
          outboundId: outboundIdOf(s.data.biz_opaque_callback_data),
          errors: s.data.errors.map((e) => ({ code: e.code, title: e.title, message: e.message, details: e.error_data?.details })),
          raw,
        });
      }
    }
  }
  return { events, skipped };
}

function toMessageEvent(m: z.infer<typeof messageSchema>, name: string | undefined, raw: unknown): InboundMessageEvent {
  const common = {
    type: 'message' as const,
    messageId: m.id,
    from: m.from,
    fromUserId: m.from_user_id,
    name: name?.trim() || undefined,
    timestamp: m.timestamp,
    contextId: m.context?.id,
    metaType: m.type,
    raw,
  };
  if (m.type === 'text' && m.text) return { ...common, kind: 'text', text: m.text.body };
  const reply = m.interactive?.button_reply ?? m.interactive?.list_reply;
  if (m.type === 'interactive' && reply) return { ...common, kind: 'button', buttonId: reply.id, text: reply.title };
  const tapped = m.button?.payload ?? m.button?.text;
  if (m.type === 'button' && tapped) return { ...common, kind: 'button', buttonId: tapped, text: m.button?.text };
  return { ...common, kind: 'other' };
}

import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { webhookEnvelope } from '../../sandbox/graph';
import { sign } from '../../whatsapp/signature';

/**
 * Webhook deliveries shaped like Meta's (the `whatsapp_business_account` envelope, signed
 * with X-Hub-Signature-256 over the raw bytes), sent by the load generator itself: the fake
 * Graph API delivers its webhooks one at a time, which would cap every figure at its pace.
 */
export const PHONE_NUMBER_ID = '100200300';
export const BUSINESS_NUMBER = '15550001111';

let sequence = 0;
export const newMessageId = () => `wamid.BENCH${(++sequence).toString(36)}${randomBytes(6).toString('base64url')}`;
const nowSeconds = () => String(Math.floor(Date.now() / 1000));

const envelope = (value: Record<string, unknown>) =>
  webhookEnvelope({ phoneNumberId: PHONE_NUMBER_ID, displayPhoneNumber: BUSINESS_NUMBER }, value);

/** `from` is digits, as Meta writes numbers. */
export function inboundText(from: string, text: string, id = newMessageId()) {
  return envelope({
    contacts: [{ profile: { name: 'Bench Guest' }, wa_id: from }],
    messages: [{ from, id, timestamp: nowSeconds(), type: 'text', text: { body: text } }],
  });
}

export function buttonTap(from: string, payload: string, id = newMessageId()) {
  return envelope({
    contacts: [{ profile: { name: 'Bench Manager' }, wa_id: from }],
    messages: [{ from, id, timestamp: nowSeconds(), type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: payload, title: payload } } }],
  });
}

export function statusUpdate(providerMessageId: string, status: 'sent' | 'delivered' | 'read', recipient: string) {
  return envelope({ statuses: [{ id: providerMessageId, status, timestamp: nowSeconds(), recipient_id: recipient }] });
}

export interface WebhookSender {
  /** Resolves with the HTTP status (0 when the connection failed). */
  post(body: unknown): Promise<number>;
  close(): Promise<void>;
}

/** Keep-alive connections to one webhook URL, like Meta's delivery fleet holding a few open. */
export function webhookSender(url: string, appSecret: string, connections = 32): WebhookSender {
  const { origin, pathname } = new URL(url);
  const pool = new Pool(origin, { connections, pipelining: 1 });
  return {
    async post(body) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      const signature = sign(raw, appSecret);
      try {
        const res = await pool.request({ path: pathname, method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signature }, body: raw });
        await res.body.dump();
        return res.statusCode;
      } catch {
        return 0;
      }
    },
    close: () => pool.close(),
  };
}

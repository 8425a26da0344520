import { request } from 'undici';
import { sign } from '../../whatsapp/signature';
import type { AcceptedMessage, FakeFailure, InboundMessage } from './state';

/** The fake's side of Meta's webhooks: signed POSTs, in order, retried like Meta's redelivery. */
export interface FakeWebhookOptions {
  url: string;
  appSecret: string;
  /** Emit sent → delivered → read for every accepted message (default true). */
  statuses?: boolean;
  /** Pause between two status webhooks of one message (default 5 ms). */
  statusDelayMs?: number;
  /** Further attempts after a non-200 answer, like Meta's redelivery (default 3). */
  retries?: number;
}

export interface WebhookDelivery {
  body: unknown;
  /** The HTTP status of the last attempt, or undefined when it could not connect. */
  status?: number;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** Meta's envelope around one `messages` change for a business number, as its webhooks carry it. */
export function webhookEnvelope(business: { phoneNumberId: string; displayPhoneNumber: string }, value: Record<string, unknown>) {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'FAKE_WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: business.displayPhoneNumber, phone_number_id: business.phoneNumberId },
              ...value,
            },
          },
        ],
      },
    ],
  };
}

export function createWebhookSender(business: { phoneNumberId: string; displayPhoneNumber: string }, initial: FakeWebhookOptions | undefined) {
  const deliveries: WebhookDelivery[] = [];
  let webhook = initial;
  // One queue keeps each message's statuses in order, as a webhook receiver would see them.
  let queue: Promise<unknown> = Promise.resolve();

  const envelope = (value: Record<string, unknown>) => webhookEnvelope(business, value);

  async function post(body: unknown): Promise<WebhookDelivery> {
    const delivery: WebhookDelivery = { body, attempts: 0 };
    deliveries.push(delivery);
    const target = webhook;
    if (!target) return delivery;
    const raw = JSON.stringify(body);
    const attempts = 1 + (target.retries ?? 3);
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await sleep(50 * 2 ** i);
      delivery.attempts++;
      try {
        const res = await request(target.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, target.appSecret) },
          body: raw,
        });
        await res.body.dump();
        delivery.status = res.statusCode;
        if (res.statusCode === 200) break;
      } catch {
        delivery.status = undefined;
      }
    }
    return delivery;
  }

  function enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return run;
  }

  return {
    deliveries,
    configure: (w: FakeWebhookOptions | undefined) => {
      webhook = w;
    },
    /** sent → delivered → read for an accepted message, or one `failed` status for an asynchronous failure. */
    statuses(m: AcceptedMessage, failure?: FakeFailure): void {
      if (!webhook) return;
      // Meta echoes the send's callback data in each of the message's statuses.
      const callbackData = typeof m.body.biz_opaque_callback_data === 'string' ? { biz_opaque_callback_data: m.body.biz_opaque_callback_data } : {};
      const status = (s: string, extra: Record<string, unknown> = {}) =>
        envelope({ statuses: [{ id: m.id, status: s, timestamp: nowSeconds(), recipient_id: m.to, ...callbackData, ...extra }] });
      if (failure) {
        const title = failure.title ?? 'Message failed';
        const error = { code: failure.code, title, message: title, error_data: { details: failure.details ?? '' } };
        void enqueue(() => {
          m.status = 'failed';
          m.error = { code: failure.code, title };
          return post(status('failed', { errors: [error] }));
        });
        return;
      }
      if (webhook.statuses === false) return;
      for (const s of ['sent', 'delivered', 'read'] as const) {
        void enqueue(async () => {
          await sleep(webhook?.statusDelayMs ?? 5);
          m.status = s;
          return post(status(s));
        });
      }
    },
    /** A person's message, the way Meta delivers it. */
    inbound(m: InboundMessage, profileName: string): Promise<WebhookDelivery> {
      const body = envelope({
        contacts: [{ profile: { name: profileName }, wa_id: m.from }],
        messages: [{ from: m.from, id: m.id, timestamp: nowSeconds(), ...m.message }],
      });
      return enqueue(() => post(body));
    },
    /** Resolves when every webhook queued so far has been delivered (or given up). */
    async settled(): Promise<void> {
      let seen: Promise<unknown>;
      do {
        seen = queue;
        await seen;
      } while (seen !== queue);
    },
  };
}

import { getBookingDetails } from '../db/bookingViews';
import { findOutboundByIdempotencyKey } from '../db/messages';
import { idempotencyKey, type BookingDetails, type Notification } from '../domain/notifications';
import { createLogger } from '../observability/logger';
import { createOutboxChannel, createWhatsAppChannel } from '../whatsapp/channel';
import { WhatsAppSendError } from '../whatsapp/errors';
import { recordWebhookEvents } from '../whatsapp/inbox';
import { parseWebhook } from '../whatsapp/webhookPayload';
import { startFakeGraphApi, type FakeGraphApi } from '../sandbox/graph';
import { createGraphClient, type GraphClient } from '../whatsapp/graphClient';
import { MANAGER_TEMPLATE_PARAMETERS } from '../whatsapp/render';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { sendAndDie } from './helpers/dyingWorker';
import { createRestaurantFixture, insertBookingRow, testPhone, type RestaurantFixture } from './helpers/fixtures';

const TOKEN = 'test-access-token';
const PHONE_NUMBER_ID = '123456789012345';
const config = { WHATSAPP_MANAGER_TEMPLATE: 'booking_request', WHATSAPP_REMINDER_TEMPLATE: 'booking_reminder' };
const logger = createLogger('silent');

let t: TestDatabase;
let fake: FakeGraphApi;
let graph: GraphClient;
let restaurant: RestaurantFixture;
let booking: BookingDetails;
let round = 0;

/** A fresh round per test, so each test has its own idempotency keys. */
const managerRequest = (extra: Partial<Notification> = {}): Notification => ({
  purpose: 'managerRequest',
  recipient: { role: 'manager', phone: restaurant.managers[0].phone, language: 'ru', name: 'Aigerim' },
  booking,
  round: ++round,
  ...extra,
});

const channel = (sendLeaseMs?: number) => createWhatsAppChannel({ config, db: t.db, logger, graph, sendLeaseMs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const diesAfterSending = (n: Notification) => sendAndDie({ config, db: t.db, logger, graph }, n);

beforeAll(async () => {
  t = await createTestDatabase();
  restaurant = await createRestaurantFixture(t.db);
  booking = (await getBookingDetails(t.db, await insertBookingRow(t.db, restaurant, 'PENDING')))!;
  fake = await startFakeGraphApi({
    accessToken: TOKEN,
    phoneNumberId: PHONE_NUMBER_ID,
    templates: [{ name: 'booking_request', languages: ['en', 'ru', 'kk'], bodyParameters: MANAGER_TEMPLATE_PARAMETERS.length, quickReplies: 3 }],
  });
  graph = createGraphClient({ apiUrl: fake.url, apiVersion: 'v23.0', phoneNumberId: PHONE_NUMBER_ID, accessToken: TOKEN });
});

afterAll(async () => {
  await graph?.close();
  await fake?.close();
  await t?.drop();
});

beforeEach(() => {
  fake.clearFailures();
  fake.requests.length = 0;
});

describe('WhatsApp channel', () => {
  it('sends once: a repeated send returns the recorded message without a request', async () => {
    const n = managerRequest();
    const first = await channel().send(n);
    expect(first).toMatchObject({ status: 'sent', reused: false, idempotencyKey: idempotencyKey(n) });
    expect(first.providerMessageId).toMatch(/^wamid\./);

    const again = await channel().send(n);
    expect(again).toEqual({ ...first, reused: true });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({ method: 'POST', path: `/v23.0/${PHONE_NUMBER_ID}/messages`, authorized: true, status: 200 });
    expect(fake.requests[0].body).toMatchObject({ to: restaurant.managers[0].phone, type: 'interactive' });

    const row = await findOutboundByIdempotencyKey(t.db, first.idempotencyKey);
    expect(row).toMatchObject({ status: 'sent', providerMessageId: first.providerMessageId, bookingId: booking.id, purpose: 'managerRequest', round });
    // What went out is the recorded message with its row's callback data (no phone number: Meta stores it).
    expect(fake.requests[0].body).toEqual({ ...(row!.payload as object), biz_opaque_callback_data: `wab:${row!.id}` });
  });

  it('sends a single request when two attempts race', async () => {
    const n = managerRequest();
    const results = await Promise.allSettled([channel().send(n), channel().send(n)]);
    expect(fake.requests).toHaveLength(1);
    const sent = results.filter((r) => r.status === 'fulfilled');
    expect(sent.length).toBeGreaterThanOrEqual(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ retryable: true, reason: 'inProgress' });
    }
  });

  it('does not resend a message whose attempt died inside the lease; after it, with no status webhook, sends again', async () => {
    const leaseMs = 1_500;
    const n = managerRequest();
    const wamid = await diesAfterSending(n);
    expect(await findOutboundByIdempotencyKey(t.db, idempotencyKey(n))).toMatchObject({ status: 'sending', providerMessageId: null });

    // The lease is the status webhook's chance to store the wamid: a retry inside it waits.
    await expect(channel(leaseMs).send(n)).rejects.toMatchObject({ retryable: true, reason: 'inProgress', retryAfterMs: leaseMs });
    expect(fake.requests).toHaveLength(1);

    // No webhook came: the message may never have left, so it is sent again (the window README states).
    await sleep(leaseMs + 200);
    const retried = await channel(leaseMs).send(n);
    expect(retried).toMatchObject({ status: 'sent', reused: false });
    expect(retried.providerMessageId).not.toBe(wamid);
    expect(fake.requests).toHaveLength(2);
  });

  it('sends the manager template when the interactive message is outside the 24-hour window', async () => {
    fake.fail({ type: 'interactive', code: 131047, title: 'Re-engagement message' });
    const n = managerRequest();
    const result = await channel().send(n);
    expect(result).toMatchObject({ status: 'sent', reused: false, idempotencyKey: `${idempotencyKey(n)}:template` });
    expect(fake.requests.map((r) => r.status)).toEqual([400, 200]);
    const template = fake.requests[1].body as { template: { name: string; language: { code: string }; components: unknown[] } };
    expect(template.template.name).toBe('booking_request');
    expect(template.template.language.code).toBe('ru');

    expect(await findOutboundByIdempotencyKey(t.db, idempotencyKey(n))).toMatchObject({ status: 'failed', errorCode: 131047, providerMessageId: null });
    expect(await findOutboundByIdempotencyKey(t.db, result.idempotencyKey)).toMatchObject({ status: 'sent', providerMessageId: result.providerMessageId });

    // A retried activity neither repeats the refused message nor the template.
    expect(await channel().send(n)).toEqual({ ...result, reused: true });
    expect(fake.requests).toHaveLength(2);
  });

  it('sends the template on request after a later 131047, once', async () => {
    const n = managerRequest();
    const interactive = await channel().send(n);
    const viaTemplate = await channel().send({ ...n, viaTemplate: true });
    expect(viaTemplate).toMatchObject({ reused: false, idempotencyKey: `${interactive.idempotencyKey}:template` });
    expect(await channel().send({ ...n, viaTemplate: true })).toMatchObject({ reused: true, providerMessageId: viaTemplate.providerMessageId });
    expect(fake.requests.map((r) => (r.body as { type: string }).type)).toEqual(['interactive', 'template']);
  });

  it('does not use the template for a guest message outside the window', async () => {
    fake.fail({ code: 131047, title: 'Re-engagement message' });
    const n: Notification = { purpose: 'guestApproved', recipient: { role: 'guest', phone: testPhone(), language: 'en' }, booking };
    await expect(channel().send(n)).rejects.toMatchObject({ code: 131047, retryable: false });
    expect(fake.requests).toHaveLength(1);
  });

  it('records a permanent refusal and fails without retry', async () => {
    const phone = testPhone();
    fake.fail({ to: phone, code: 131026, title: 'Message undeliverable' });
    const n: Notification = { purpose: 'guestWaiting', recipient: { role: 'guest', phone, language: 'kk' }, booking };
    const err = await channel().send(n).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WhatsAppSendError);
    expect(err).toMatchObject({ code: 131026, retryable: false, kind: 'permanent' });
    const row = await findOutboundByIdempotencyKey(t.db, idempotencyKey(n));
    expect(row).toMatchObject({ status: 'failed', errorCode: 131026, errorTitle: 'Message undeliverable' });
    expect(row?.processedAt).not.toBeNull();
  });

  it('leaves a retryable refusal for the next attempt, which sends it', async () => {
    fake.fail({ code: 130429, title: 'Rate limit hit', times: 1 });
    const n = managerRequest();
    await expect(channel().send(n)).rejects.toMatchObject({ code: 130429, retryable: true });
    expect(await findOutboundByIdempotencyKey(t.db, idempotencyKey(n))).toMatchObject({ status: 'retrying', errorCode: 130429 });
    const retried = await channel().send(n);
    expect(retried).toMatchObject({ status: 'sent', reused: false });
    expect(await findOutboundByIdempotencyKey(t.db, idempotencyKey(n))).toMatchObject({ status: 'sent', errorCode: null });
  });

  it('asks to wait before retrying a recipient over the pair rate limit', async () => {
    fake.fail({ code: 131056, title: 'Pair rate limit hit', times: 1 });
    await expect(channel().send(managerRequest())).rejects.toMatchObject({ code: 131056, retryable: true, retryAfterMs: expect.any(Number) });
  });

  it('turns a bad token into a permanent error that does not contain the token', async () => {
    const wrong = createGraphClient({ apiUrl: fake.url, apiVersion: 'v23.0', phoneNumberId: PHONE_NUMBER_ID, accessToken: 'wrong-token' });
    try {
      const err = await createWhatsAppChannel({ config, db: t.db, logger, graph: wrong }).send(managerRequest()).catch((e: Error) => e);
      expect(err).toMatchObject({ code: 190, retryable: false });
      expect(JSON.stringify(err) + String(err)).not.toContain('wrong-token');
      expect(fake.requests[0].authorized).toBe(false);
    } finally {
      await wrong.close();
    }
  });

  it('treats an unreachable API as retryable', async () => {
    const down = createGraphClient({ apiUrl: 'http://127.0.0.1:9', apiVersion: 'v23.0', phoneNumberId: PHONE_NUMBER_ID, accessToken: TOKEN });
    try {
      await expect(createWhatsAppChannel({ config, db: t.db, logger, graph: down }).send(managerRequest())).rejects.toMatchObject({
        retryable: true,
        reason: 'network',
      });
    } finally {
      await down.close();
    }
  });
});

/** A status webhook for a message the fake accepted, as Meta sends it: the send's callback data echoed. */
function statusDelivery(m: { id: string; to: string; body: Record<string, unknown> }, status: string, extra: Record<string, unknown> = {}) {
  const s = { id: m.id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: m.to, biz_opaque_callback_data: m.body.biz_opaque_callback_data, ...extra };
  const value = { messaging_product: 'whatsapp', metadata: { phone_number_id: PHONE_NUMBER_ID }, statuses: [s] };
  return parseWebhook({ object: 'whatsapp_business_account', entry: [{ id: 'WABA', changes: [{ field: 'messages', value }] }] }).events;
}
const record = (events: ReturnType<typeof statusDelivery>) => recordWebhookEvents(t.db, events, { ours: (e) => e.phoneNumberId === undefined || e.phoneNumberId === PHONE_NUMBER_ID, floodLimitPerMinute: 100 });

describe('a status webhook naming the row of a send whose attempt died', () => {
  it('stores the wamid, so the retry after the lease returns it instead of sending again', async () => {
    const n = managerRequest();
    const wamid = await diesAfterSending(n);
    const [accepted] = fake.accepted.filter((m) => m.id === wamid);
    expect(await record(statusDelivery(accepted, 'sent'))).toMatchObject({ statuses: { inserted: 1, attached: 1 } });
    expect(await record(statusDelivery(accepted, 'delivered'))).toMatchObject({ statuses: { attached: 0, applied: 1 } });
    expect(await findOutboundByIdempotencyKey(t.db, idempotencyKey(n))).toMatchObject({ status: 'delivered', providerMessageId: wamid });

    await sleep(50);
    expect(await channel(10).send(n)).toEqual({ status: 'sent', idempotencyKey: idempotencyKey(n), providerMessageId: wamid, reused: true });
    expect(fake.requests).toHaveLength(1);
  });

  it('leaves the row alone when the status is for another phone, names a wamid another row holds, or the row has its wamid', async () => {
    const n = managerRequest();
    const wamid = await diesAfterSending(n);
    const [accepted] = fake.accepted.filter((m) => m.id === wamid);
    const row = async () => (await findOutboundByIdempotencyKey(t.db, idempotencyKey(n)))!;

    expect(await record(statusDelivery(accepted, 'sent', { recipient_id: '77010000000' }))).toMatchObject({ statuses: { inserted: 1, attached: 0 } });
    const other = await channel().send(managerRequest());
    expect(await record(statusDelivery({ ...accepted, id: other.providerMessageId! }, 'read'))).toMatchObject({ statuses: { attached: 0 } });
    expect(await row()).toMatchObject({ status: 'sending', providerMessageId: null });

    expect(await record(statusDelivery(accepted, 'delivered'))).toMatchObject({ statuses: { attached: 1 } });
    expect(await row()).toMatchObject({ status: 'delivered', providerMessageId: wamid });
    expect(await record(statusDelivery({ ...accepted, id: 'wamid.SOMETHING_ELSE' }, 'read'))).toMatchObject({ statuses: { attached: 0 } });
    expect(await row()).toMatchObject({ status: 'delivered', providerMessageId: wamid });
  });
});

describe('fake Graph API', () => {
  const post = (body: unknown) => graph.send(body as never).catch((e: WhatsAppSendError) => e);
  const base = { messaging_product: 'whatsapp', recipient_type: 'individual', to: '+77011234567' };

  it('refuses what Meta refuses, with Meta codes', async () => {
    const buttons = (n: number, title = (i: number) => `B${i}`) => ({
      ...base,
      type: 'interactive',
      interactive: { type: 'button', body: { text: 'x' }, action: { buttons: Array.from({ length: n }, (_, i) => ({ type: 'reply', reply: { id: `id${i}`, title: title(i) } })) } },
    });
    expect(await post(buttons(4))).toMatchObject({ code: 131009 });
    expect(await post(buttons(2, () => 'same'))).toMatchObject({ code: 131009 });
    expect(await post(buttons(1, () => 'x'.repeat(21)))).toMatchObject({ code: 131009 });
    expect(await post({ ...base, type: 'text', text: { body: 'x'.repeat(4097) } })).toMatchObject({ code: 100 });
    expect(await post({ ...base, to: '77011234567', type: 'text', text: { body: 'no plus' } })).toMatchObject({ code: 100 });
    expect(await post({ ...base, messaging_product: undefined, type: 'text', text: { body: 'x' } })).toMatchObject({ code: 100 });
    expect(await post({ ...base, type: 'template', template: { name: 'unknown', language: { code: 'en' }, components: [] } })).toMatchObject({ code: 132001 });
    expect(await post({ ...base, type: 'template', template: { name: 'booking_request', language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'a' }] }] } })).toMatchObject({ code: 132000 });
    expect(await post({ ...base, type: 'template', template: { name: 'booking_request', language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'a\nb' }] }] } })).toMatchObject({ code: 132018 });
    expect(await post({ ...base, type: 'text', text: { body: 'x' }, biz_opaque_callback_data: 'x'.repeat(513) })).toMatchObject({ code: 131009 });
    expect(fake.accepted.filter((m) => m.to === '77011234567')).toHaveLength(0);
  });

  it('answers like Meta when it accepts', async () => {
    const result = await graph.send({ ...base, type: 'text', text: { body: 'hi', preview_url: false } } as never);
    expect(result.messageId).toMatch(/^wamid\.FAKE/);
    expect(fake.requests.at(-1)?.response).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: '+77011234567', wa_id: '77011234567' }],
      messages: [{ id: result.messageId }],
    });
  });
});

describe('outbox channel', () => {
  it('records the rendered message as queued, once per key, without any request', async () => {
    const outbox = createOutboxChannel({ db: t.db });
    const n = managerRequest();
    const first = await outbox.send(n);
    expect(first).toEqual({ status: 'queued', idempotencyKey: idempotencyKey(n), providerMessageId: undefined, reused: false });
    expect(await outbox.send(n)).toEqual({ ...first, reused: true });
    const row = await findOutboundByIdempotencyKey(t.db, first.idempotencyKey);
    expect(row).toMatchObject({ status: 'queued', direction: 'out', purpose: 'managerRequest' });
    expect(row?.payload).toMatchObject({ type: 'interactive', to: restaurant.managers[0].phone });
    expect(fake.requests).toHaveLength(0);
  });

  it('leaves a queued message to be sent for real once WhatsApp is configured', async () => {
    const n = managerRequest();
    await createOutboxChannel({ db: t.db }).send(n);
    const sent = await channel().send(n);
    expect(sent).toMatchObject({ status: 'sent', reused: false, idempotencyKey: idempotencyKey(n) });
    expect(fake.requests).toHaveLength(1);
  });
});

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { request } from 'undici';
import { createConsoleLinks } from '../api/console/link';
import { createWhatsAppWebhookRouter, WHATSAPP_WEBHOOK_PATH, type WhatsAppWebhookDeps, type WhatsAppWebhookRouter } from '../api/routes/whatsappWebhook';
import { insertDraftBooking } from '../db/bookings';
import { getBookingDetails } from '../db/bookingViews';
import { upsertClient } from '../db/clients';
import { createDb } from '../db/knex';
import { claimOutbound, findOutboundByIdempotencyKey, markOutboundSent } from '../db/messages';
import { registry } from '../observability/metrics';
import { ServiceError } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { BookingStatus } from '../domain/booking';
import { claimCode, newClaimSecret } from '../domain/claim';
import { createWhatsAppChannel } from '../whatsapp/channel';
import { startFakeGraphApi, type FakeGraphApi } from '../sandbox/graph';
import { createGraphClient, type GraphClient } from '../whatsapp/graphClient';
import type { WorkflowSignaller } from '../whatsapp/inbound';
import { recordWebhookEvents } from '../whatsapp/inbox';
import { sign } from '../whatsapp/signature';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createRestaurantFixture, eventually, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { connectDevServer, testPayloadEncryption, uniqueId, type DevServerConnection } from './helpers/temporal';

const SECRET = 'test_app_secret';
const VERIFY_TOKEN = 'verify-me';
const TOKEN = 'graph-token';
const PHONE_NUMBER_ID = '123456789012345';
const FLOOD_LIMIT = 5;
const config = {
  WHATSAPP_APP_SECRET: SECRET,
  WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
  WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
  DEFAULT_LANGUAGE: 'en' as const,
  WHATSAPP_MANAGER_TEMPLATE: 'booking_request',
  WHATSAPP_REMINDER_TEMPLATE: 'booking_reminder',
  REJECT_REASON_WAIT: 120_000,
  INBOX_CONCURRENCY: 16,
  INBOX_MAX_ATTEMPTS: 3,
  INBOUND_FLOOD_LIMIT_PER_MINUTE: FLOOD_LIMIT,
};

let t: TestDatabase;
let temporal: DevServerConnection;
let fake: FakeGraphApi;
let graph: GraphClient;
let restaurant: RestaurantFixture;
const logLines: Record<string, unknown>[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
const workflows: string[] = [];
const servers: { close(): Promise<void> }[] = [];

interface App {
  url: string;
  router: WhatsAppWebhookRouter;
}

async function startApp(overrides: Partial<WhatsAppWebhookDeps> = {}): Promise<App> {
  const router = createWhatsAppWebhookRouter({
    config,
    db: t.db,
    temporal: temporal.client,
    logger,
    channel: createWhatsAppChannel({ config, db: t.db, logger, graph }),
    inboxIntervalMs: 100,
    inboxRetryDelayMs: 50,
    ...overrides,
  });
  const app = express().use(router);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({
    close: async () => {
      await router.inbox.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, router };
}

let app: App;

/** Posts a delivery the way Meta does; `signature: null` leaves the header out. */
async function deliver(body: unknown, opts: { url?: string; signature?: string | null } = {}): Promise<number> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const signature = opts.signature === undefined ? sign(raw, SECRET) : opts.signature;
  const res = await request(`${opts.url ?? app.url}${WHATSAPP_WEBHOOK_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature !== null && { 'x-hub-signature-256': signature }) },
    body: raw,
  });
  await res.body.dump();
  return res.statusCode;
}

const envelope = (value: Record<string, unknown>) => ({
  object: 'whatsapp_business_account',
  entry: [{ id: 'WABA', changes: [{ field: 'messages', value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550001111', phone_number_id: PHONE_NUMBER_ID }, ...value } }] }],
});

const wamid = () => `wamid.TEST${randomBytes(8).toString('hex')}`;
const digits = (phone: string) => phone.slice(1);

function textMessage(from: string, text: string, opts: { id?: string; name?: string } = {}) {
  const id = opts.id ?? wamid();
  return {
    id,
    body: envelope({
      contacts: [{ profile: { name: opts.name ?? 'Ana Guest' }, wa_id: digits(from) }],
      messages: [{ from: digits(from), id, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
    }),
  };
}

function tap(from: string, payload: string, template = false) {
  const id = wamid();
  const kind = template
    ? { type: 'button', button: { payload, text: 'Approve' } }
    : { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: payload, title: 'Approve' } } };
  return {
    id,
    body: envelope({
      contacts: [{ profile: { name: 'Someone' }, wa_id: digits(from) }],
      messages: [{ context: { from: '15550001111', id: 'wamid.OURS' }, from: digits(from), id, timestamp: '1767225700', ...kind }],
    }),
  };
}

const statusUpdate = (id: string, status: string, extra: Record<string, unknown> = {}) =>
  envelope({ statuses: [{ id, status, timestamp: '1767225900', recipient_id: '77011234567', ...extra }] });

let slot = 0;
/** A booking row and a running workflow execution (no worker: signals are only recorded) to signal. */
async function booking(opts: { status?: BookingStatus; guestPhone?: string; claimExpiresAt?: Date } = {}) {
  const secret = newClaimSecret(randomBytes);
  const workflowId = uniqueId('wa-webhook-booking');
  // Each booking its own slot: table-holding bookings of one table may not overlap.
  const startsAt = new Date(Date.UTC(2030, 0, 1) + ++slot * 4 * 3_600_000);
  const row = await t.db.transaction((trx) =>
    insertDraftBooking(trx, {
      restaurantId: restaurant.restaurantId,
      tableId: restaurant.tableId,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 2 * 3_600_000),
      partySize: 2,
      guestName: 'Ana Guest',
      claimSecret: (id) => claimCode(id, secret),
      claimExpiresAt: opts.claimExpiresAt ?? new Date(Date.now() + 30 * 60_000),
      workflowIdFor: () => workflowId,
      items: [{ menuItemId: restaurant.menuItemId, quantity: 2 }],
    }),
  );
  const client = opts.guestPhone ? await upsertClient(t.db, { phone: opts.guestPhone, name: 'Ana Guest', language: 'ru' }) : undefined;
  await t.db('bookings').where({ id: row.id }).update({ status: opts.status ?? 'DRAFT', client_id: client?.id ?? null });
  await temporal.client.workflow.start('bookingWorkflow', { workflowId, taskQueue: uniqueId('no-worker'), args: [] });
  workflows.push(workflowId);
  return { id: row.id, workflowId, code: claimCode(row.id, secret) };
}

async function signals(workflowId: string): Promise<{ name: string; input: unknown }[]> {
  const history = await temporal.client.workflow.getHandle(workflowId).fetchHistory();
  const signalled = (history.events ?? []).map((e) => e.workflowExecutionSignaledEventAttributes).filter((a) => !!a);
  return Promise.all(
    signalled.map(async (a) => {
      const [payload] = await testPayloadEncryption.codec.decode(a.input!.payloads! as Payload[]);
      return { name: a.signalName!, input: JSON.parse(Buffer.from(payload.data!).toString()) };
    }),
  );
}

const inbound = (id: string) => t.db('whatsapp_messages').where({ provider_message_id: id, direction: 'in' });
const repliesTo = (id: string) => fake.accepted.filter((m) => (m.body.context as { message_id?: string } | undefined)?.message_id === id);

beforeAll(async () => {
  [t, temporal] = await Promise.all([createTestDatabase(), connectDevServer()]);
  restaurant = await createRestaurantFixture(t.db, { managerLanguage: 'kk' });
  fake = await startFakeGraphApi({ accessToken: TOKEN, phoneNumberId: PHONE_NUMBER_ID });
  graph = createGraphClient({ apiUrl: fake.url, apiVersion: 'v23.0', phoneNumberId: PHONE_NUMBER_ID, accessToken: TOKEN });
  app = await startApp();
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await Promise.all(workflows.map((id) => temporal.client.workflow.getHandle(id).terminate().catch(() => undefined)));
  await fake?.close();
  await graph?.close();
  await temporal?.close();
  await t?.drop();
});

beforeEach(() => {
  fake.clearFailures();
  fake.configureWebhook(undefined);
});

describe('GET: verification handshake', () => {
  const get = async (query: string) => {
    const res = await request(`${app.url}${WHATSAPP_WEBHOOK_PATH}?${query}`);
    return { status: res.statusCode, type: res.headers['content-type'], body: await res.body.text() };
  };

  it('echoes the challenge byte for byte on the right token', async () => {
    const r = await get(`hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=0012345678`);
    expect(r).toMatchObject({ status: 200, body: '0012345678' });
    expect(r.type).toMatch(/^text\/plain/);
  });

  it('answers 403 otherwise', async () => {
    expect((await get('hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1')).status).toBe(403);
    expect((await get(`hub.mode=unsubscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1`)).status).toBe(403);
    expect((await get('')).status).toBe(403);
  });
});

describe('POST: authenticity', () => {
  it('refuses a missing or forged signature with 401 and stores nothing', async () => {
    const before = await t.db('whatsapp_messages').count({ n: '*' }).first();
    const { id, body } = textMessage(testPhone(), 'hello');
    expect(await deliver(body, { signature: null })).toBe(401);
    expect(await deliver(body, { signature: sign(JSON.stringify(body), 'not-the-secret') })).toBe(401);
    expect(await deliver(body, { signature: 'sha256=deadbeef' })).toBe(401);
    expect(await inbound(id)).toHaveLength(0);
    expect(await t.db('whatsapp_messages').count({ n: '*' }).first()).toEqual(before);
    expect(logLines.some((l) => l.msg === 'webhook delivery refused' && l.reason === 'missing signature')).toBe(true);
  });

  it('refuses a signed body that is not a webhook envelope with 400', async () => {
    expect(await deliver('{"hello":')).toBe(400);
    expect(await deliver({ hello: 'world' })).toBe(400);
  });

  it('refuses a body over 3 MB', async () => {
    expect(await deliver({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(3 * 1024 * 1024) })).toBe(413);
  });
});

describe('POST: inbound messages', () => {
  it('signals a claim with the phone, the profile name and the message id', async () => {
    const b = await booking();
    const guest = testPhone();
    const { id, body } = textMessage(guest, `Hi! my code is  booking : ${b.code.toUpperCase().replace('-', ' - ')} thanks`, { name: 'Ana Guest' });
    expect(await deliver(body)).toBe(200);
    await app.router.inbox.drain();
    expect(await signals(b.workflowId)).toEqual([{ name: 'claim', input: { phone: guest, name: 'Ana Guest', messageId: id } }]);
    expect(await inbound(id).first()).toMatchObject({ booking_id: b.id, purpose: 'text', phone: guest, processed_at: expect.any(Date) });
  });

  it('stores and acts on a redelivered message once', async () => {
    const b = await booking();
    const { id, body } = textMessage(testPhone(), `BOOKING:${b.code}`);
    expect(await deliver(body)).toBe(200);
    expect(await deliver(body)).toBe(200);
    await app.router.inbox.drain();
    expect(await deliver(body)).toBe(200);
    await app.router.inbox.drain();
    expect(await inbound(id)).toHaveLength(1);
    expect(await signals(b.workflowId)).toHaveLength(1);
  });

  it('answers an unknown, malformed or expired code politely and signals nothing', async () => {
    const expired = await booking({ claimExpiresAt: new Date(Date.now() - 60_000) });
    const guest = testPhone();
    const messages = [
      textMessage(guest, `BOOKING:${expired.code}`),
      textMessage(guest, `BOOKING:${expired.id}-wrongsecret`),
      textMessage(guest, 'BOOKING: ???'),
    ];
    for (const m of messages) expect(await deliver(m.body)).toBe(200);
    await app.router.inbox.drain();
    expect(await signals(expired.workflowId)).toEqual([]);
    for (const m of messages) {
      const [reply] = repliesTo(m.id);
      expect(reply).toMatchObject({ to: digits(guest), type: 'text' });
      expect(reply.body.to).toBe(guest);
    }
    // +7 suggests Russian when nothing else is known about the guest.
    expect((repliesTo(messages[0].id)[0].body.text as { body: string }).body).toMatch(/Мы не нашли бронирование/);
  });

  it('signals a manager decision from a reply button or a template quick reply', async () => {
    const b = await booking({ status: 'PENDING' });
    const manager = restaurant.managers[0];
    const approve = tap(manager.phone, `APPROVE_BOOKING:${b.id}`);
    const reject = tap(restaurant.owner.phone, `REJECT_BOOKING:${b.id}`, true);
    expect(await deliver(approve.body)).toBe(200);
    expect(await deliver(reject.body)).toBe(200);
    await app.router.inbox.drain();
    // Two senders: acted on in parallel, so in either order.
    expect((await signals(b.workflowId)).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'approve', input: { actor: { type: 'manager', id: manager.userId, name: manager.name, phone: manager.phone }, messageId: approve.id } },
      {
        name: 'reject',
        input: { actor: { type: 'owner', id: restaurant.owner.userId, name: restaurant.owner.name, phone: restaurant.owner.phone }, messageId: reject.id },
      },
    ]);
  });

  it('refuses a button tap from someone who is not a manager, and logs it as a security event', async () => {
    const b = await booking({ status: 'PENDING' });
    const stranger = testPhone();
    const attempt = tap(stranger, `APPROVE_BOOKING:${b.id}`);
    expect(await deliver(attempt.body)).toBe(200);
    await app.router.inbox.drain();
    expect(await signals(b.workflowId)).toEqual([]);
    expect(repliesTo(attempt.id)).toEqual([expect.objectContaining({ to: digits(stranger), type: 'text' })]);
    const event = logLines.find((l) => l.security === 'unauthorized_action' && l.bookingId === b.id);
    expect(event).toMatchObject({ level: 40, action: 'approve' });
    expect(JSON.stringify(event)).not.toContain(digits(stranger));
  });

  it('gives a manager who asks the guest chat link, in the restaurant language', async () => {
    const guest = testPhone();
    const b = await booking({ status: 'PENDING', guestPhone: guest });
    const manager = restaurant.managers[1];
    const ask = tap(manager.phone, `CONTACT_CLIENT:${b.id}`);
    expect(await deliver(ask.body)).toBe(200);
    await app.router.inbox.drain();
    const [reply] = repliesTo(ask.id);
    expect(reply.to).toBe(digits(manager.phone));
    expect(reply.body.interactive).toMatchObject({
      type: 'cta_url',
      action: { name: 'cta_url', parameters: { display_text: 'Чатты ашу', url: `https://wa.me/${digits(guest)}` } },
    });
    expect(await signals(b.workflowId)).toEqual([]);
  });

  it('explains itself, reports /status, and skips a sender without a phone', async () => {
    const guest = testPhone();
    const b = await booking({ status: 'PENDING', guestPhone: guest });
    const help = textMessage(guest, 'hello?');
    const status = textMessage(guest, '/status');
    const noFrom = wamid();
    for (const body of [help.body, status.body]) expect(await deliver(body)).toBe(200);
    expect(
      await deliver(envelope({ contacts: [{ user_id: 'US.1' }], messages: [{ from_user_id: 'US.1', id: noFrom, timestamp: '1', type: 'text', text: { body: 'hi' } }] })),
    ).toBe(200);
    await app.router.inbox.drain();
    // The sender's second message waits for the first; a retried one comes with the running inbox.
    await eventually(async () => repliesTo(help.id).length + repliesTo(status.id).length, (n) => n === 2);
    // The booking's guest stored Russian: both answers are in Russian.
    expect((repliesTo(help.id)[0].body.text as { body: string }).body).toMatch(/^Здравствуйте/);
    expect((repliesTo(status.id)[0].body.text as { body: string }).body).toContain(`#${b.id}: ожидает подтверждения ресторана`);
    expect(repliesTo(noFrom)).toEqual([]);
    expect(await inbound(noFrom).first()).toMatchObject({ phone: '', processed_at: expect.any(Date) });
  });

  it('stores every message of a large batch and acts on each', async () => {
    const guests = Array.from({ length: 40 }, () => testPhone());
    const ids = guests.map(() => wamid());
    const body = envelope({
      contacts: guests.map((g) => ({ profile: { name: 'Guest' }, wa_id: digits(g) })),
      messages: guests.map((g, i) => ({ from: digits(g), id: ids[i], timestamp: '1', type: 'text', text: { body: 'hi' } })),
      statuses: [{ id: 'wamid.UNKNOWN', status: 'sent', timestamp: '1', recipient_id: '1' }],
    });
    expect(await deliver(body)).toBe(200);
    expect(await t.db('whatsapp_messages').whereIn('provider_message_id', ids)).toHaveLength(40);
    const result = await app.router.inbox.drain();
    expect(result.failed).toBe(0);
    for (const id of ids) expect(repliesTo(id)).toHaveLength(1);
  });

  it('takes inbound messages from the fake Graph API as from Meta', async () => {
    fake.configureWebhook({ url: `${app.url}${WHATSAPP_WEBHOOK_PATH}`, appSecret: SECRET, statuses: false });
    const b = await booking();
    const guest = testPhone();
    const claim = await fake.receiveText(guest, `BOOKING:${b.code}`, { name: 'Ana Guest' });
    const manager = restaurant.managers[0];
    const approve = await fake.tapButton(manager.phone, `APPROVE_BOOKING:${b.id}`, { template: true, title: 'Растау' });
    expect([claim.delivery.status, approve.delivery.status]).toEqual([200, 200]);
    await app.router.inbox.drain();
    expect(await signals(b.workflowId)).toEqual(
      expect.arrayContaining([
        { name: 'claim', input: { phone: guest, name: 'Ana Guest', messageId: claim.messageId } },
        { name: 'approve', input: { actor: { type: 'manager', id: manager.userId, name: manager.name, phone: manager.phone }, messageId: approve.messageId } },
      ]),
    );
    expect(await signals(b.workflowId)).toHaveLength(2);
  });

  it('processes deliveries by itself once started', async () => {
    const own = await startApp();
    own.router.inbox.start();
    try {
      const b = await booking();
      const { body } = textMessage(testPhone(), `BOOKING:${b.code}`);
      expect(await deliver(body, { url: own.url })).toBe(200);
      await eventually(() => signals(b.workflowId), (s) => s.length === 1);
    } finally {
      await own.router.inbox.stop();
    }
  });
});

describe('POST: the visit (#10): guest and manager taps, commands', () => {
  type Sent = (typeof fake.accepted)[number];
  const interactive = (m: Sent) => m.body.interactive as { type: string; action: { buttons?: { reply: { id: string } }[]; sections?: { rows: { id: string }[] }[] } };
  const replyIds = (m: Sent) => interactive(m).action.buttons?.map((b) => b.reply.id) ?? interactive(m).action.sections!.flatMap((x) => x.rows.map((r) => r.id));
  const textOf = (m: Sent) => (m.body.text as { body: string }).body;
  async function act(...bodies: { body: unknown }[]) {
    for (const b of bodies) expect(await deliver(b.body)).toBe(200);
    await app.router.inbox.drain();
  }

  it('Confirm from the booking\'s guest is signalled; from anyone else it is refused and logged', async () => {
    const guest = testPhone();
    const b = await booking({ status: 'APPROVED', guestPhone: guest });
    const confirm = tap(guest, `CONFIRM_VISIT:${b.id}`);
    const stranger = tap(testPhone(), `CONFIRM_VISIT:${b.id}`);
    await act(confirm, stranger);
    expect(await signals(b.workflowId)).toEqual([{ name: 'confirmVisit', input: { phone: guest, messageId: confirm.id } }]);
    expect(repliesTo(confirm.id)).toEqual([]);
    expect(textOf(repliesTo(stranger.id)[0])).toMatch(/^Извините, это могут сделать только менеджеры/);
    expect(logLines.find((l) => l.security === 'unauthorized_action' && l.bookingId === b.id)).toMatchObject({ action: 'confirmVisit' });
  });

  it('Cancel asks Yes / No in the guest\'s language; Yes signals the cancel as the guest, No keeps the booking', async () => {
    const guest = testPhone();
    const b = await booking({ status: 'APPROVED', guestPhone: guest });
    const cancel = tap(guest, `CANCEL_BOOKING:${b.id}`);
    await act(cancel);
    const [question] = repliesTo(cancel.id);
    expect(replyIds(question)).toEqual([`CANCEL_YES:${b.id}`, `CANCEL_NO:${b.id}`]);
    expect((question.body.interactive as { body: { text: string } }).body.text).toMatch(/^Отменить ваше бронирование в ресторане «Test Bistro»/);

    const no = tap(guest, `CANCEL_NO:${b.id}`);
    const yes = tap(guest, `CANCEL_YES:${b.id}`);
    await act(no, yes);
    expect(textOf(repliesTo(no.id)[0])).toMatch(/остаётся в силе/);
    const client = await t.db('clients').where({ phone: guest }).first('id');
    expect(await signals(b.workflowId)).toEqual([
      { name: 'cancel', input: { actor: { type: 'guest', id: client.id, phone: guest, name: 'Ana Guest' }, messageId: yes.id } },
    ]);
    // The workflow answers the Yes (cancelled, or refused inside the cutoff), not the inbox.
    expect(repliesTo(yes.id)).toEqual([]);
  });

  it('Cancel on a booking that can no longer be cancelled says so instead of asking', async () => {
    const guest = testPhone();
    const b = await booking({ status: 'REJECTED', guestPhone: guest });
    const cancel = tap(guest, `CANCEL_BOOKING:${b.id}`);
    await act(cancel);
    expect(textOf(repliesTo(cancel.id)[0])).toBe(`Бронирование #${b.id} уже нельзя отменить: оно отклонено.`);
    expect(await signals(b.workflowId)).toEqual([]);
  });

  it('/cancel asks about the only upcoming booking, or offers a list of them; picking a row asks about that one', async () => {
    const guest = testPhone();
    const only = await booking({ status: 'PENDING', guestPhone: guest });
    await booking({ status: 'REJECTED', guestPhone: guest });
    const first = textMessage(guest, '/cancel');
    await act(first);
    expect(replyIds(repliesTo(first.id)[0])).toEqual([`CANCEL_YES:${only.id}`, `CANCEL_NO:${only.id}`]);

    const second = await booking({ status: 'APPROVED', guestPhone: guest });
    const again = textMessage(guest, '/cancel');
    await act(again);
    const [list] = repliesTo(again.id);
    expect(interactive(list).type).toBe('list');
    expect(replyIds(list)).toEqual([`CANCEL_BOOKING:${only.id}`, `CANCEL_BOOKING:${second.id}`]);

    fake.configureWebhook({ url: `${app.url}${WHATSAPP_WEBHOOK_PATH}`, appSecret: SECRET, statuses: false });
    const picked = await fake.tapButton(guest, `CANCEL_BOOKING:${second.id}`, { list: true, title: `#${second.id}`, contextId: list.id });
    await app.router.inbox.drain();
    expect(replyIds(repliesTo(picked.messageId)[0])).toEqual([`CANCEL_YES:${second.id}`, `CANCEL_NO:${second.id}`]);
    expect(await signals(second.workflowId)).toEqual([]);
  });

  it('/status lists every upcoming booking of the guest, and nothing else', async () => {
    const guest = testPhone();
    const pending = await booking({ status: 'PENDING', guestPhone: guest });
    const approved = await booking({ status: 'APPROVED', guestPhone: guest });
    const rejected = await booking({ status: 'REJECTED', guestPhone: guest });
    const status = textMessage(guest, '/status');
    await act(status);
    const text = textOf(repliesTo(status.id)[0]);
    expect(text).toMatch(/^У вас 2 предстоящих бронирования/);
    expect(text).toContain(`#${pending.id}: ожидает подтверждения ресторана`);
    expect(text).toContain(`#${approved.id}: подтверждено`);
    expect(text).not.toContain(`#${rejected.id}`);
  });

  it('Arrived and No-show from a manager are signalled with the manager as the actor; a guest cannot', async () => {
    const guest = testPhone();
    const b = await booking({ status: 'APPROVED', guestPhone: guest });
    const manager = restaurant.managers[0];
    const arrived = tap(manager.phone, `ARRIVED:${b.id}`);
    const noShow = tap(restaurant.managers[1].phone, `NO_SHOW:${b.id}`);
    const byGuest = tap(guest, `NO_SHOW:${b.id}`);
    await act(arrived, noShow, byGuest);
    const actor = (m: { userId: number; name: string; phone: string }) => ({ type: 'manager', id: m.userId, name: m.name, phone: m.phone });
    expect((await signals(b.workflowId)).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'arrived', input: { actor: actor(manager), messageId: arrived.id } },
      { name: 'noShow', input: { actor: actor(restaurant.managers[1]), messageId: noShow.id } },
    ]);
    expect(repliesTo(byGuest.id)).toHaveLength(1);
  });

  it('a picked reason is signalled; "other" asks for the reason, and the manager\'s next text is the reason', async () => {
    const b = await booking({ status: 'REJECTED' });
    const manager = restaurant.managers[0];
    const picked = tap(manager.phone, `REJECT_REASON:${b.id}:private_event`);
    const other = tap(manager.phone, `REJECT_REASON:${b.id}:other`);
    await act(picked, other);
    expect(textOf(repliesTo(other.id)[0])).toContain(`#${b.id}`);
    const typed = textMessage(manager.phone, '  Kitchen is closed for repairs ');
    const later = textMessage(manager.phone, 'thanks');
    await act(typed, later);
    const actor = { type: 'manager', id: manager.userId, name: manager.name, phone: manager.phone };
    expect(await signals(b.workflowId)).toEqual([
      { name: 'rejectReason', input: { actor, code: 'private_event', messageId: picked.id } },
      { name: 'rejectReason', input: { actor, text: 'Kitchen is closed for repairs', messageId: typed.id } },
    ]);
    expect(repliesTo(typed.id)).toEqual([]);
    // Only the next text is the reason: the one after it is ordinary text.
    expect(repliesTo(later.id)).toHaveLength(1);
  });

  it('a text after REJECT_REASON_WAIT is not a reason', async () => {
    const b = await booking({ status: 'REJECTED' });
    const manager = restaurant.managers[1];
    const other = tap(manager.phone, `REJECT_REASON:${b.id}:other`);
    await act(other);
    await t.db('whatsapp_messages').where({ direction: 'out', purpose: 'rejectReasonTypePrompt', booking_id: b.id }).update({ created_at: t.db.raw("now() - interval '3 minutes'") });
    const late = textMessage(manager.phone, 'Kitchen is closed');
    await act(late);
    expect(await signals(b.workflowId)).toEqual([]);
  });

  it('/console gives a restaurant member a sign-in link in their language; others are refused', async () => {
    const links = createConsoleLinks({
      db: t.db,
      config: { CONSOLE_LINK_SECRET: undefined, CONSOLE_LINK_TTL: 15 * 60_000, PUBLIC_URL: 'https://booking.example.com' },
      adminToken: 'webhook-test-admin-token-0123456789',
      listeningAt: () => undefined,
    });
    const withLinks = await startApp({ consoleLinks: links });
    const manager = restaurant.managers[0];
    const [asked, stranger] = [textMessage(manager.phone, '/console'), textMessage(testPhone(), '/console')];
    for (const m of [asked, stranger]) expect(await deliver(m.body, { url: withLinks.url })).toBe(200);
    await withLinks.router.inbox.drain();
    // The restaurant's managers write Kazakh.
    expect(textOf(repliesTo(asked.id)[0])).toMatch(/^Сіздің консоліңіз \(Test Bistro\): https:\/\/booking\.example\.com\/console\/\?link=\S+\n\d\d:\d\d дейін жарамды/);
    expect(textOf(repliesTo(stranger.id)[0])).toMatch(/^Извините, это могут сделать только менеджеры/);
  });

  it('unknown text gets the help once a day; /help always does', async () => {
    const guest = testPhone();
    const [hello, again, help] = [textMessage(guest, 'hello?'), textMessage(guest, 'anyone there?'), textMessage(guest, '/help')];
    await act(hello, again, help);
    expect(textOf(repliesTo(hello.id)[0])).toMatch(/\/status.*\n.*\/cancel.*\n.*\/help/);
    expect(repliesTo(again.id)).toEqual([]);
    expect(repliesTo(help.id)).toHaveLength(1);
    // A day later the help comes again.
    await t.db('whatsapp_messages').where({ direction: 'out', purpose: 'guestHelp', phone: guest }).update({ created_at: t.db.raw("now() - interval '25 hours'") });
    const tomorrow = textMessage(guest, 'hello again');
    await act(tomorrow);
    expect(repliesTo(tomorrow.id)).toHaveLength(1);
  });
});

describe('POST: statuses', () => {
  async function sentMessage() {
    const key = `test:${randomBytes(4).toString('hex')}`;
    const { row } = await claimOutbound(t.db, { idempotencyKey: key, phone: '+77011234567', purpose: 'guestHelp', payload: {} }, { status: 'sending', leaseMs: 1000 });
    const id = wamid();
    await markOutboundSent(t.db, row.id, id);
    return { key, id };
  }

  it("gives a sender racing another for the same idempotency key the other's row, unclaimed", async () => {
    const key = `test:${randomBytes(4).toString('hex')}`;
    const message = { idempotencyKey: key, phone: '+77011234567', purpose: 'guestHelp', payload: {} };
    // The other sender's insert, not yet committed when this claim's statement starts.
    const trx = await t.db.transaction();
    await trx.raw(`insert into whatsapp_messages (direction, phone, purpose, idempotency_key, payload, status) values ('out', ?, 'guestHelp', ?, '{}', 'sending')`, [message.phone, key]);
    const racing = claimOutbound(t.db, message, { status: 'sending', leaseMs: 60_000 });
    await new Promise((r) => setTimeout(r, 100));
    await trx.commit();
    const { claimed, row } = await racing;
    expect(claimed).toBe(false);
    expect(row).toMatchObject({ idempotencyKey: key, status: 'sending' });
    // Once sent, a later claim of the same key is refused in the one statement.
    await markOutboundSent(t.db, row.id, wamid());
    expect(await claimOutbound(t.db, message, { status: 'sending', leaseMs: 60_000 })).toMatchObject({ claimed: false, row: { id: row.id, status: 'sent' } });
  });

  it('never moves a message backwards, and stores each (message, status) once', async () => {
    const m = await sentMessage();
    expect(await deliver(statusUpdate(m.id, 'read'))).toBe(200);
    expect(await deliver(statusUpdate(m.id, 'delivered'))).toBe(200);
    expect(await deliver(statusUpdate(m.id, 'sent'))).toBe(200);
    expect(await deliver(statusUpdate(m.id, 'read'))).toBe(200);
    expect(await findOutboundByIdempotencyKey(t.db, m.key)).toMatchObject({ status: 'read' });
    expect(await t.db('whatsapp_status_events').where({ provider_message_id: m.id }).orderBy('id').pluck('status')).toEqual(['read', 'delivered', 'sent']);
  });

  it('stores the error of a failed message', async () => {
    const m = await sentMessage();
    const errors = [{ code: 131026, title: 'Message undeliverable', message: 'Message undeliverable', error_data: { details: 'not on WhatsApp' } }];
    expect(await deliver(statusUpdate(m.id, 'failed', { errors }))).toBe(200);
    expect(await findOutboundByIdempotencyKey(t.db, m.key)).toMatchObject({ status: 'failed', errorCode: 131026, errorTitle: 'Message undeliverable' });
    await app.router.inbox.drain();
    expect(logLines.some((l) => l.msg === 'whatsapp message failed after it was accepted' && l.code === 131026)).toBe(true);
  });

  it('applies a status that arrives before the sender recorded the message id', async () => {
    const key = `test:${randomBytes(4).toString('hex')}`;
    const { row } = await claimOutbound(t.db, { idempotencyKey: key, phone: '+77011234567', purpose: 'guestHelp', payload: {} }, { status: 'sending', leaseMs: 1000 });
    const id = wamid();
    await recordWebhookEvents(t.db, [{ type: 'status', messageId: id, status: 'delivered', errors: [], raw: { id, status: 'delivered' } }], {
      floodLimitPerMinute: FLOOD_LIMIT,
    });
    await markOutboundSent(t.db, row.id, id);
    expect(await findOutboundByIdempotencyKey(t.db, key)).toMatchObject({ status: 'delivered', providerMessageId: id });
  });

  it('loses no status that arrives while the sender is recording its message id', async () => {
    const key = `test:${randomBytes(4).toString('hex')}`;
    const { row } = await claimOutbound(t.db, { idempotencyKey: key, phone: '+77011234567', purpose: 'guestHelp', payload: {} }, { status: 'sending', leaseMs: 1000 });
    const id = wamid();
    // markOutboundSent's steps, held open at the worst moment: its look for recorded statuses
    // is done (none yet), its write of the wamid is not committed.
    const trx = await t.db.transaction();
    await trx.raw('select pg_advisory_xact_lock(?, hashtext(?))', [0x7761, id]);
    await trx('whatsapp_messages').where({ id: row.id }).update({ provider_message_id: id, status: 'sent' });
    await trx.raw('select whatsapp_apply_statuses(?::text[])', [[id]]);
    const delivery = deliver(statusUpdate(id, 'delivered'));
    await new Promise((r) => setTimeout(r, 200));
    await trx.commit();
    expect(await delivery).toBe(200);
    expect(await findOutboundByIdempotencyKey(t.db, key)).toMatchObject({ status: 'delivered' });
  });

  it('follows signed status webhooks from the Graph API', async () => {
    fake.configureWebhook({ url: `${app.url}${WHATSAPP_WEBHOOK_PATH}`, appSecret: SECRET });
    const channel = createWhatsAppChannel({ config, db: t.db, logger, graph });
    const sent = await channel.send({ purpose: 'guestHelp', recipient: { role: 'guest', phone: testPhone(), language: 'en' }, replyTo: wamid() });
    await fake.settled();
    expect(await findOutboundByIdempotencyKey(t.db, sent.idempotencyKey)).toMatchObject({ status: 'read' });
  });

  it('tells the workflow when a manager message fails later outside the 24-hour window', async () => {
    fake.configureWebhook({ url: `${app.url}${WHATSAPP_WEBHOOK_PATH}`, appSecret: SECRET });
    const b = await booking({ status: 'PENDING' });
    const manager = restaurant.managers[0];
    fake.fail({ to: manager.phone, code: 131047, title: 'Re-engagement message', mode: 'async', times: 1 });
    const details = (await getBookingDetails(t.db, b.id))!;
    const channel = createWhatsAppChannel({ config, db: t.db, logger, graph });
    const sent = await channel.send({ purpose: 'managerRequest', recipient: { role: 'manager', phone: manager.phone, language: 'kk' }, booking: details });
    await fake.settled();
    expect(await findOutboundByIdempotencyKey(t.db, sent.idempotencyKey)).toMatchObject({ status: 'failed', errorCode: 131047 });
    await app.router.inbox.drain();
    expect(await signals(b.workflowId)).toEqual([
      {
        name: 'deliveryFailed',
        input: { providerMessageId: sent.providerMessageId, idempotencyKey: sent.idempotencyKey, errorCode: 131047, purpose: 'managerRequest' },
      },
    ]);
    await app.router.inbox.drain();
    expect(await signals(b.workflowId)).toHaveLength(1);
  });
});

describe('outages', () => {
  it('answers 503 when the delivery cannot be stored, so Meta redelivers', async () => {
    const quiet = { warn: () => undefined, error: () => undefined, debug: () => undefined };
    const down = createDb('postgres://postgres:x@127.0.0.1:1/none', { min: 0, max: 1 }, quiet);
    try {
      const own = await startApp({ db: down });
      expect(await deliver(textMessage(testPhone(), 'hello').body, { url: own.url })).toBe(503);
    } finally {
      await down.destroy();
    }
  });

  it('answers at its usual speed while Temporal hangs: acting waits in the inbox, not the answer', async () => {
    const hung: (() => void)[] = [];
    let back = false;
    const hanging = {
      workflow: { getHandle: () => ({ signal: () => (back ? Promise.resolve() : new Promise<void>((resolve) => hung.push(resolve))) }) },
      withDeadline: <R>(_deadline: number, fn: () => Promise<R>) => fn(),
    } as unknown as WorkflowSignaller;
    const own = await startApp({ temporal: hanging });
    own.router.inbox.start();
    try {
      const drafts = await Promise.all(Array.from({ length: 20 }, () => booking()));
      const started = performance.now();
      for (const b of drafts) expect(await deliver(textMessage(testPhone(), `BOOKING:${b.code}`).body, { url: own.url })).toBe(200);
      expect(performance.now() - started).toBeLessThan(2_000);
      // As many claims as the inbox takes at once are stuck in a signal; the rest wait their turn.
      await eventually(async () => hung.length, (n) => n === config.INBOX_CONCURRENCY);
    } finally {
      back = true;
      hung.forEach((resolve) => resolve());
      await own.router.inbox.drain(); // the claims that waited their turn, so no later test meets them
      await own.router.inbox.stop();
    }
  });

  it('keeps a message whose signal failed and acts on it once Temporal is back', async () => {
    let temporalUp = false;
    const received: unknown[] = [];
    const flaky = {
      withDeadline: <R>(_deadline: number, fn: () => Promise<R>) => fn(),
      workflow: {
        getHandle: (workflowId: string) => ({
          signal: async (def: { name: string }, input: unknown) => {
            // What the client throws when the server is unreachable: a ServiceError around gRPC's UNAVAILABLE.
            if (!temporalUp) throw new ServiceError('Failed to signal', { cause: Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 }) });
            received.push({ workflowId, name: def.name, input });
          },
        }),
      },
    } as unknown as WorkflowSignaller;
    const own = await startApp({ temporal: flaky });
    const b = await booking();
    const { id, body } = textMessage(testPhone(), `BOOKING:${b.code}`);
    expect(await deliver(body, { url: own.url })).toBe(200);
    expect(await own.router.inbox.drain()).toMatchObject({ failed: 1 });
    // An outage is not the row's fault: it spends none of the row's attempts.
    expect(await inbound(id).first()).toMatchObject({ processed_at: null, attempts: 0, last_error: 'Failed to signal' });
    temporalUp = true;
    await new Promise((r) => setTimeout(r, 60)); // the retry's backoff
    expect(await own.router.inbox.drain()).toMatchObject({ processed: 1, failed: 0 });
    expect(received).toEqual([{ workflowId: b.workflowId, name: 'claim', input: expect.objectContaining({ messageId: id }) }]);
    expect(await inbound(id).first()).toMatchObject({ processed_at: expect.any(Date) });
  });
});

describe('hostile and foreign input', () => {
  it('cleans NUL and lone surrogates, so the claim beside them in the batch is acted on', async () => {
    const b = await booking();
    const guest = testPhone();
    const [poisonId, surrogateId, claimId] = [wamid(), wamid(), wamid()];
    const text = (id: string, body: string) => ({ from: digits(guest), id, timestamp: '1', type: 'text', text: { body } });
    // Escaped by hand: JSON.stringify would escape the lone surrogate the same way Meta does.
    const raw = JSON.stringify(
      envelope({
        contacts: [{ profile: { name: 'Ana\u0000' }, wa_id: digits(guest) }],
        messages: [text(poisonId, 'hi\u0000there'), text(surrogateId, 'broken \ud83d here'), text(claimId, `BOOKING:${b.code}`)],
      }),
    );
    expect(raw).toContain('\\u0000');
    expect(raw).toContain('\\ud83d');
    expect(await deliver(raw)).toBe(200);
    expect(await app.router.inbox.drain()).toMatchObject({ failed: 0 });
    expect(await signals(b.workflowId)).toEqual([{ name: 'claim', input: { phone: guest, name: 'Ana', messageId: claimId } }]);
    expect((await inbound(poisonId).first()).payload.text).toBe('hithere');
    expect((await inbound(surrogateId).first()).payload.text).toBe('broken \ufffd here');
  });

  it('answers codes and buttons whose booking id overflows the database politely, without failing', async () => {
    const guest = testPhone();
    const claim = textMessage(guest, 'BOOKING:99999999999-abcd');
    const button = tap(restaurant.managers[0].phone, 'APPROVE_BOOKING:99999999999');
    expect(await deliver(claim.body)).toBe(200);
    expect(await deliver(button.body)).toBe(200);
    expect(await app.router.inbox.drain()).toEqual({ processed: 2, failed: 0 });
    expect((repliesTo(claim.id)[0].body.text as { body: string }).body).toMatch(/Мы не нашли бронирование/);
    expect(repliesTo(button.id)).toHaveLength(1);
  });

  it('stores a delivery for another phone_number_id as foreign and never acts on it', async () => {
    const b = await booking();
    const guest = testPhone();
    const { id, body } = textMessage(guest, `BOOKING:${b.code}`);
    const foreign = JSON.parse(JSON.stringify(body).replace(PHONE_NUMBER_ID, '999999999999999'));
    const count = async () => Number(/outcome="foreign"} (\d+)/.exec(await registry.getSingleMetricAsString('whatsapp_webhook_events_total'))?.[1] ?? 0);
    const before = await count();
    expect(await deliver(foreign)).toBe(200);
    expect(await deliver(foreign)).toBe(200); // Meta's redelivery: still one row
    await app.router.inbox.drain();
    expect(await inbound(id)).toEqual([expect.objectContaining({ status: 'foreign', processed_at: expect.any(Date) })]);
    expect(await signals(b.workflowId)).toEqual([]);
    expect(repliesTo(id)).toEqual([]);
    expect(await count()).toBe(before + 1);
  });

  it('answers a flooding sender once per minute with "slow down", and acts on nothing beyond the limit', async () => {
    const flooder = testPhone();
    const ids = Array.from({ length: FLOOD_LIMIT + 10 }, () => wamid());
    const flood = envelope({
      contacts: [{ profile: { name: 'Spam' }, wa_id: digits(flooder) }],
      messages: ids.map((id) => ({ from: digits(flooder), id, timestamp: '1', type: 'text', text: { body: 'hello?' } })),
    });
    const b = await booking();
    const guest = textMessage(testPhone(), `BOOKING:${b.code}`);
    expect(await deliver(flood)).toBe(200);
    expect(await deliver(guest.body)).toBe(200);
    expect(await app.router.inbox.drain()).toMatchObject({ failed: 0 });

    expect(await signals(b.workflowId)).toHaveLength(1);
    const toFlooder = fake.accepted.filter((m) => m.to === digits(flooder));
    // The help once (unknown text gets it once a day), then "slow down" once.
    expect(toFlooder).toHaveLength(2);
    expect(toFlooder.filter((m) => (m.body.text as { body: string }).body.startsWith('Вы отправляете сообщения'))).toHaveLength(1);
    const rows = await t.db('whatsapp_messages').whereIn('provider_message_id', ids).orderBy('id');
    expect(rows.map((r) => r.status)).toEqual([...Array(FLOOD_LIMIT).fill('received'), ...Array(10).fill('skipped')]);
    expect(rows.every((r) => r.processed_at)).toBe(true);
  });
});

describe('redelivery storm', () => {
  it('acts on every message once when each delivery arrives 2-5 times, shuffled, concurrently, at two API processes', async () => {
    const other = await startApp();
    app.router.inbox.start();
    other.router.inbox.start();
    try {
      const drafts = await Promise.all(Array.from({ length: 6 }, () => booking()));
      const pending = await Promise.all(Array.from({ length: 6 }, () => booking({ status: 'PENDING' })));
      const guests = drafts.map(() => testPhone());
      const messages = [
        ...drafts.map((b, i) => textMessage(guests[i], `BOOKING:${b.code}`)),
        ...pending.map((b, i) => tap(restaurant.managers[i % 2].phone, `APPROVE_BOOKING:${b.id}`)),
        ...guests.map((g) => textMessage(g, 'hello?')),
      ];
      const deliveries = messages.flatMap((m) => Array.from({ length: 2 + Math.floor(Math.random() * 4) }, () => m.body));
      for (let i = deliveries.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [deliveries[i], deliveries[j]] = [deliveries[j], deliveries[i]];
      }
      const statuses = await Promise.all(deliveries.map((d, i) => deliver(d, { url: i % 2 ? other.url : app.url })));
      expect(statuses.every((s) => s === 200)).toBe(true);

      const ids = messages.map((m) => m.id);
      await eventually(
        () => t.db('whatsapp_messages').whereIn('provider_message_id', ids).whereNotNull('processed_at').count({ n: '*' }).first(),
        (r) => Number(r?.n) === ids.length,
      );
      expect(await t.db('whatsapp_messages').whereIn('provider_message_id', ids)).toHaveLength(ids.length);
      for (const b of drafts) expect((await signals(b.workflowId)).map((s) => s.name)).toEqual(['claim']);
      for (const b of pending) expect((await signals(b.workflowId)).map((s) => s.name)).toEqual(['approve']);
      for (const m of messages.slice(-guests.length)) expect(repliesTo(m.id)).toHaveLength(1);
    } finally {
      await app.router.inbox.stop();
      await other.router.inbox.stop();
    }
  });
});

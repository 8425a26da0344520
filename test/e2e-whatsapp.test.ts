/**
 * The WhatsApp channel end to end: the real API, worker and webhook inbox (runtime/system.ts)
 * on the shared dev server and a fresh database, talking over HTTP to the fake Graph API the
 * way they talk to Meta. Messages leave as Cloud API requests; guests' and managers' answers
 * and delivery statuses come back as signed webhooks.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { createActivities } from '../activities';
import { WHATSAPP_WEBHOOK_PATH } from '../api/routes/whatsappWebhook';
import type { Config } from '../config';
import { getBookingDetails } from '../db/bookingViews';
import { actionId, rejectReasonId } from '../domain/actions';
import type { Language } from '../domain/booking';
import { idempotencyKey, type Notification } from '../domain/notifications';
import { phoneDigits } from '../domain/phone';
import { createLogger } from '../observability/logger';
import type { RunningSystem } from '../runtime/system';
import { createWhatsAppChannel } from '../whatsapp/channel';
import { startFakeGraphApi, type AcceptedMessage, type FakeGraphApi, type FakeWebhookOptions, type WebhookDelivery } from '../sandbox/graph';
import { createGraphClient } from '../whatsapp/graphClient';
import { formatWhen } from '../whatsapp/render';
import { sign } from '../whatsapp/signature';
import type { TestDatabase } from './helpers/db';
import { sendAndDie } from './helpers/dyingWorker';
import { startTestSystem, type TestSystem } from './helpers/system';
import { createRestaurantFixture, eventually, testPhone, type RestaurantFixture } from './helpers/fixtures';

const ACCESS_TOKEN = 'e2e-graph-access-token';
const APP_SECRET = 'e2e-app-secret';
const PHONE_NUMBER_ID = '106540352242922';
const BOT_NUMBER = '15550001111';
const TEMPLATE = 'booking_request';
const GUEST_NAME = 'Ana';
const SPECIAL_REQUESTS = 'Window seat, please';
const TIMEZONE = 'Asia/Almaty';

let t: TestDatabase;
let ts: TestSystem;
let fake: FakeGraphApi;
let config: Config;
let system: RunningSystem;
let webhook: FakeWebhookOptions;
/** Managers write Russian: the restaurant's manager language is ru. */
let r: RestaurantFixture;

beforeAll(async () => {
  fake = await startFakeGraphApi({
    accessToken: ACCESS_TOKEN,
    phoneNumberId: PHONE_NUMBER_ID,
    displayPhoneNumber: BOT_NUMBER,
    templates: [{ name: TEMPLATE, languages: ['en', 'ru', 'kk'], bodyParameters: 10, quickReplies: 3 }],
  });
  ts = await startTestSystem('e2e-wa', {
    WHATSAPP_API_URL: fake.url,
    WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: 'e2e-verify-token',
    WHATSAPP_BOT_NUMBER: BOT_NUMBER,
    WHATSAPP_MANAGER_TEMPLATE: TEMPLATE,
  });
  ({ t, config, system } = ts);
  webhook = { url: `${system.apiUrl}${WHATSAPP_WEBHOOK_PATH}`, appSecret: APP_SECRET };
  fake.configureWebhook(webhook);
  r = await createRestaurantFixture(t.db, { managerLanguage: 'ru', timezone: TIMEZONE });
});

afterEach(() => {
  fake.clearFailures();
  fake.configureWebhook(webhook);
});

afterAll(async () => {
  // Status webhooks still queued need the API, and the API's sends need the fake.
  await fake?.settled();
  await ts?.stop();
  await fake?.close();
});

// ---- the website and the back office -------------------------------------------------

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${system.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(path.startsWith('/admin-api') && { authorization: `Bearer ${ts.adminToken}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

let slot = 0;
let guestSeq = 0;
/** English-speaking guests by their country code: +44 (UK drama range) unless +1 is asked for. */
const guestPhone = (prefix: '+4477009' | '+120255' = '+4477009') => `${prefix}${String(++guestSeq).padStart(5, '0')}`;
const displayPhone = (phone: string) => parsePhoneNumberFromString(phone)!.formatInternational();

interface Booking {
  id: number;
  claimText: string;
  startsAt: string;
}

/** POST /api/bookings for a slot of its own (bookings of one table may not overlap). */
async function book(extra: { language?: Language } = {}): Promise<Booking> {
  const startsAt = new Date(Date.now() + 2 * 86_400_000 + ++slot * 3 * 3_600_000).toISOString();
  const res = await api('POST', '/api/bookings', {
    restaurantId: r.restaurantId,
    tableId: r.tableId,
    startsAt,
    partySize: 2,
    specialRequests: SPECIAL_REQUESTS,
    preorder: [{ menuItemId: r.menuItemId, quantity: 2 }],
    ...extra,
  });
  expect(res.status).toBe(201);
  return { id: res.body.id, claimText: res.body.claimText, startsAt };
}

interface Claimed extends Booking {
  guest: string;
  claim: { messageId: string; delivery: WebhookDelivery };
}

/** A booking whose guest sent the claim text; resolves once the guest was told to wait and every manager was asked (accepted or refused). */
async function claimedBooking(opts: { language?: Language; guest?: string } = {}): Promise<Claimed> {
  const b = await book({ language: opts.language });
  const guest = opts.guest ?? guestPhone();
  const claim = await fake.receiveText(guest, `Hello! ${b.claimText}`, { name: GUEST_NAME });
  expect(claim.delivery.status).toBe(200);
  await eventually(async () => sentTo(guest).length, (n) => n === 1);
  // The workflow sends the guest's and the managers' messages side by side.
  await eventually(async () => r.managers.every((m) => decisionAttempts(m.phone, b.id).length > 0), Boolean);
  return { ...b, guest, claim };
}

// ---- webhooks as Meta sends them ---------------------------------------------------

/** `signature: null` leaves the header out. */
async function postWebhook(raw: string, signature: string | null = sign(raw, APP_SECRET)): Promise<number> {
  const res = await fetch(webhook.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(signature !== null && { 'x-hub-signature-256': signature }) },
    body: raw,
  });
  await res.arrayBuffer();
  return res.status;
}

/** Meta redelivers the very same bytes. */
const redeliver = (d: WebhookDelivery) => postWebhook(JSON.stringify(d.body));

function statusWebhook(m: AcceptedMessage, status: string): string {
  const value = {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: BOT_NUMBER, phone_number_id: PHONE_NUMBER_ID },
    statuses: [{ id: m.id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: m.to }],
  };
  return JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: 'WABA', changes: [{ field: 'messages', value }] }] });
}

const statusIds = (d: WebhookDelivery): string[] =>
  ((d.body as any).entry?.[0]?.changes?.[0]?.value?.statuses ?? []).map((s: { id: string }) => s.id);

// ---- what the fake Graph API was asked to send --------------------------------------

/** Every send names its whatsapp_messages row for the status webhooks (and carries no phone). */
const ROW_CALLBACK = expect.stringMatching(/^wab:\d+$/);

const sentTo = (phone: string) => fake.accepted.filter((m) => m.to === phoneDigits(phone));
const repliesTo = (messageId: string) => fake.accepted.filter((m) => (m.body as any).context?.message_id === messageId);
const textOf = (m: AcceptedMessage) => (m.body as any).text?.body as string;
/** What a manager can tap: reply-button ids of an interactive message, quick-reply payloads of a template. */
function buttonIds(body: unknown): string[] {
  const b = body as any;
  if (b?.type === 'interactive') return (b.interactive.action.buttons ?? []).map((x: any) => x.reply.id);
  if (b?.type === 'template') return b.template.components.filter((c: any) => c.type === 'button').map((c: any) => c.parameters[0].payload);
  return [];
}
const decisionIds = (id: number) => [actionId('approve', id), actionId('reject', id), actionId('contact', id)];
/** Approve / Reject / Contact messages about booking `id` that reached `phone`. */
const decisionRequests = (phone: string, id: number) => sentTo(phone).filter((m) => buttonIds(m.body).includes(actionId('approve', id)));
/** Every request for such a message, refused ones included. */
const decisionAttempts = (phone: string, id: number) =>
  fake.requests.filter((q) => (q.body as any)?.to === phone && buttonIds(q.body).includes(actionId('approve', id)));

/** The manager's view of a booking: interactive body lines and template parameters show the same facts. */
function managerFacts(b: Claimed) {
  const when = formatWhen(b.startsAt, TIMEZONE, 'ru');
  return { ...when, table: 'Table 5 (window)', guestPhone: displayPhone(b.guest), preorder: '2 × Beshbarmak' };
}

// ---- what the database says ----------------------------------------------------------

const bookingStatus = async (id: number) => (await t.db('bookings').where({ id }).first('status')).status as string;
const waitForStatus = (id: number, status: string) => eventually(() => bookingStatus(id), (s) => s === status);

const history = (id: number) =>
  t.db('booking_history').where('booking_id', id).orderBy('id').select('from_status as from', 'to_status as to', 'actor_type as actor', 'actor_id as actorId', 'reason');
const created = { from: null, to: 'DRAFT', actor: 'guest', actorId: null, reason: null };
const claimedBy = async (guest: string) => ({
  from: 'DRAFT',
  to: 'PENDING',
  actor: 'guest',
  actorId: (await t.db('clients').where({ phone: guest }).first('id')).id,
  reason: null,
});

interface MessageRow {
  direction: 'in' | 'out';
  purpose: string;
  phone: string;
  key: string | null;
  status: string;
  wamid: string | null;
  errorCode: number | null;
  processed: boolean;
}

const messageRows = (where: Record<string, unknown>): Promise<MessageRow[]> =>
  t.db('whatsapp_messages')
    .where(where)
    .orderBy('id')
    .select(
      'direction',
      'purpose',
      'phone',
      'idempotency_key as key',
      'status',
      'provider_message_id as wamid',
      'error_code as errorCode',
      t.db.raw('processed_at is not null as processed'),
    );

/** The workflow sends a step's messages side by side, so rows are compared in any order. */
const anyOrder = <T>(rows: T[]) => rows.map((row) => JSON.stringify(row)).sort();

/** The rows once every status webhook is in and the inbox has acted on everything it must. */
async function settledRows(where: Record<string, unknown>): Promise<MessageRow[]> {
  await fake.settled();
  return eventually(
    () => messageRows(where),
    (rows) => rows.every((row) => row.processed || (row.direction === 'out' && row.status !== 'failed')),
  );
}

const key = (bookingId: number | 'none', purpose: string, phone: string, round: number | string = 0) => `${bookingId}:${purpose}:${phone}:${round}`;
const inRow = (purpose: 'text' | 'button', phone: string, wamid: string): MessageRow => ({
  direction: 'in',
  purpose,
  phone,
  key: null,
  status: 'received',
  wamid,
  errorCode: null,
  processed: true,
});
/** A message Meta accepted and, by the fake's status webhooks, delivered and read. */
const readRow = (purpose: string, rowKey: string, m: AcceptedMessage): MessageRow => ({
  direction: 'out',
  purpose,
  phone: `+${m.to}`,
  key: rowKey,
  status: 'read',
  wamid: m.id,
  errorCode: null,
  processed: false,
});
/** A message Meta refused for good; `wamid` when it was accepted first and failed later. */
const failedRow = (rowKey: string, phone: string, errorCode: number, wamid: string | null = null): MessageRow => ({
  direction: 'out',
  purpose: 'managerRequest',
  phone,
  key: rowKey,
  status: 'failed',
  wamid,
  errorCode,
  processed: true,
});

// ---- the stories -------------------------------------------------------------------

test('claim from WhatsApp → managers asked in Russian with the three ids → APPROVE tapped → guest told in English, APPROVED with history', async () => {
  const b = await claimedBooking();
  const [m0, m1] = r.managers;
  const facts = managerFacts(b);
  for (const m of r.managers) {
    expect(decisionRequests(m.phone, b.id)).toHaveLength(1);
    expect(decisionRequests(m.phone, b.id)[0].body).toEqual({
      messaging_product: 'whatsapp',
      biz_opaque_callback_data: ROW_CALLBACK,
      recipient_type: 'individual',
      to: m.phone,
      type: 'interactive',
      interactive: {
        type: 'button',
        header: { type: 'text', text: `Новая заявка на бронирование #${b.id}` },
        body: {
          text: [
            '🍽 Ресторан: Test Bistro',
            `🪑 Столик: ${facts.table}`,
            `📅 Дата: ${facts.date}`,
            `🕖 Время: ${facts.time}`,
            '👥 2 гостя',
            `👤 Гость: ${GUEST_NAME}`,
            `📞 Телефон: ${facts.guestPhone}`,
            '📊 В этом ресторане: первое бронирование',
            `💬 Пожелания: ${SPECIAL_REQUESTS}`,
            '🧾 Предзаказ:',
            `• ${facts.preorder}`,
          ].join('\n'),
        },
        footer: { text: 'Засчитывается первое решение' },
        action: {
          buttons: [
            { type: 'reply', reply: { id: `APPROVE_BOOKING:${b.id}`, title: 'Подтвердить' } },
            { type: 'reply', reply: { id: `REJECT_BOOKING:${b.id}`, title: 'Отклонить' } },
            { type: 'reply', reply: { id: `CONTACT_CLIENT:${b.id}`, title: 'Связаться с гостем' } },
          ],
        },
      },
    });
  }
  const [waiting] = sentTo(b.guest);
  expect(waiting.body).toMatchObject({ to: b.guest, type: 'text' });
  expect(textOf(waiting)).toMatch(/^Thank you! Test Bistro has received your booking request and will confirm it shortly\./);
  expect(textOf(waiting)).toContain('👥 2 guests');

  const [request0] = decisionRequests(m0.phone, b.id);
  const tap = await fake.tapButton(m0.phone, actionId('approve', b.id), { contextId: request0.id, name: m0.name });
  expect(tap.delivery.status).toBe(200);
  await waitForStatus(b.id, 'APPROVED');
  const [ack] = await eventually(async () => repliesTo(tap.messageId), (ms) => ms.length === 1);
  expect(ack.body).toMatchObject({ to: m0.phone, type: 'text', text: { body: `Готово: бронирование #${b.id} подтверждено. Мы сообщим гостю.` } });
  // The guest is told beside the manager's acknowledgement, not after it.
  const [, approved] = await eventually(async () => sentTo(b.guest), (ms) => ms.length === 2);
  expect(approved.body).toMatchObject({ to: b.guest, type: 'text' });
  expect(textOf(approved)).toMatch(/^Your booking is confirmed ✅\n\n🍽 Restaurant: Test Bistro\n[^]*\n\nSee you soon!$/);
  expect(sentTo(b.guest)).toHaveLength(2);

  expect(await history(b.id)).toEqual([
    created,
    await claimedBy(b.guest),
    { from: 'PENDING', to: 'APPROVED', actor: 'manager', actorId: m0.userId, reason: null },
  ]);
  expect(await t.db('bookings').where({ id: b.id }).first('decided_by_type as type', 'decided_by_user_id as userId')).toEqual({
    type: 'manager',
    userId: m0.userId,
  });
  expect(anyOrder(await settledRows({ booking_id: b.id }))).toEqual(anyOrder([
    inRow('text', b.guest, b.claim.messageId),
    readRow('managerRequest', key(b.id, 'managerRequest', m0.phone), request0),
    readRow('managerRequest', key(b.id, 'managerRequest', m1.phone), decisionRequests(m1.phone, b.id)[0]),
    readRow('guestWaiting', key(b.id, 'guestWaiting', b.guest), waiting),
    inRow('button', m0.phone, tap.messageId),
    readRow('guestApproved', key(b.id, 'guestApproved', b.guest), approved),
    readRow('decisionAck', key(b.id, 'decisionAck', m0.phone, tap.messageId), ack),
  ]));
  expect(fake.requests.every((q) => q.authorized && q.path === `/${config.WHATSAPP_API_VERSION}/${PHONE_NUMBER_ID}/messages`)).toBe(true);
});

test('every webhook delivered twice (claim, tap, statuses): one transition and one message each', async () => {
  const b = await book();
  const guest = guestPhone();
  const claim = await fake.receiveText(guest, b.claimText, { name: GUEST_NAME });
  expect(await redeliver(claim.delivery)).toBe(200);
  await eventually(async () => sentTo(guest).length, (n) => n === 1);
  const [m0, m1] = r.managers;
  const tap = await fake.tapButton(m0.phone, actionId('approve', b.id));
  expect(await redeliver(tap.delivery)).toBe(200);
  await waitForStatus(b.id, 'APPROVED');
  await eventually(async () => repliesTo(tap.messageId).length, (n) => n === 1);

  await fake.settled();
  const wamids = new Set((await messageRows({ booking_id: b.id, direction: 'out' })).map((row) => row.wamid));
  const statusDeliveries = fake.webhookDeliveries.filter((d) => statusIds(d).some((id) => wamids.has(id)));
  expect(statusDeliveries).toHaveLength(wamids.size * 3);
  for (const d of statusDeliveries) expect(await redeliver(d)).toBe(200);

  const rows = await settledRows({ booking_id: b.id });
  expect(anyOrder(rows.map((row) => [row.direction, row.purpose, row.phone, row.status]))).toEqual(anyOrder([
    ['in', 'text', guest, 'received'],
    ['out', 'managerRequest', m0.phone, 'read'],
    ['out', 'managerRequest', m1.phone, 'read'],
    ['out', 'guestWaiting', guest, 'read'],
    ['in', 'button', m0.phone, 'received'],
    ['out', 'guestApproved', guest, 'read'],
    ['out', 'decisionAck', m0.phone, 'read'],
  ]));
  expect(await history(b.id)).toEqual([
    created,
    await claimedBy(guest),
    { from: 'PENDING', to: 'APPROVED', actor: 'manager', actorId: m0.userId, reason: null },
  ]);
  for (const m of r.managers) expect(decisionRequests(m.phone, b.id)).toHaveLength(1);
  expect(sentTo(guest)).toHaveLength(2);
  expect(repliesTo(tap.messageId)).toHaveLength(1);
  const [{ count }] = await t.db('whatsapp_status_events').whereIn('provider_message_id', [...wamids] as string[]).count({ count: '*' });
  expect(Number(count)).toBe(wamids.size * 3);
});

test('CONTACT_CLIENT gives the manager a wa.me link to the guest; REJECT is final and a later APPROVE is told so', async () => {
  // A Kazakh number, but the website booked in English: the booking's language wins.
  const b = await claimedBooking({ language: 'en', guest: testPhone() });
  const [m0, m1] = r.managers;
  const contact = await fake.tapButton(m0.phone, actionId('contact', b.id));
  const [link] = await eventually(async () => repliesTo(contact.messageId), (ms) => ms.length === 1);
  expect(link.body).toEqual({
    messaging_product: 'whatsapp',
    biz_opaque_callback_data: ROW_CALLBACK,
    recipient_type: 'individual',
    to: m0.phone,
    context: { message_id: contact.messageId },
    type: 'interactive',
    interactive: {
      type: 'cta_url',
      body: { text: `Гость по бронированию #${b.id}: ${GUEST_NAME}, ${displayPhone(b.guest)}. Нажмите кнопку, чтобы открыть с ним чат.` },
      action: { name: 'cta_url', parameters: { display_text: 'Открыть чат', url: `https://wa.me/${phoneDigits(b.guest)}` } },
    },
  });
  expect(await bookingStatus(b.id)).toBe('PENDING');

  const reject = await fake.tapButton(m0.phone, actionId('reject', b.id));
  await waitForStatus(b.id, 'REJECTED');
  // The decider is acknowledged and asked for the reason (#10), which the guest's message waits for.
  const replies = await eventually(async () => repliesTo(reject.messageId), (ms) => ms.length === 2);
  const [ack] = replies.filter((m) => m.type === 'text');
  expect(textOf(ack)).toBe(`Готово: бронирование #${b.id} отклонено. Мы сообщим гостю.`);
  const [reasons] = replies.filter((m) => m.type === 'interactive');
  await fake.tapButton(m0.phone, rejectReasonId(b.id, 'closed'), { contextId: reasons.id, list: true });
  const when = formatWhen(b.startsAt, TIMEZONE, 'en');
  await eventually(async () => sentTo(b.guest).map(textOf), (texts) => texts.length === 2);
  expect(sentTo(b.guest).map(textOf)).toEqual([
    expect.stringMatching(/^Thank you! Test Bistro has received your booking request/),
    `Sorry, Test Bistro cannot accept your booking for ${when.date} at ${when.time}.\n\nReason: the restaurant is closed at that time`,
  ]);

  const late = await fake.tapButton(m1.phone, actionId('approve', b.id));
  const [already] = await eventually(async () => repliesTo(late.messageId), (ms) => ms.length === 1);
  expect(already.body).toMatchObject({ to: m1.phone, text: { body: `Бронирование #${b.id} уже отклонено (${m0.name}).` } });
  expect(await bookingStatus(b.id)).toBe('REJECTED');
  expect(await history(b.id)).toEqual([
    created,
    await claimedBy(b.guest),
    { from: 'PENDING', to: 'REJECTED', actor: 'manager', actorId: m0.userId, reason: 'closed' },
  ]);
});

test('a rejection with a reason from the back office reaches the guest in WhatsApp with the reason', async () => {
  const b = await claimedBooking();
  const rejected = await api('POST', `/admin-api/r/${r.restaurantId}/booking/${b.id}/reject`, { reason: 'Private event' });
  expect(rejected).toEqual({ status: 200, body: { status: 'REJECTED' } });
  const [, told] = await eventually(async () => sentTo(b.guest), (ms) => ms.length === 2);
  const when = formatWhen(b.startsAt, TIMEZONE, 'en');
  expect(textOf(told)).toBe(`Sorry, Test Bistro cannot accept your booking for ${when.date} at ${when.time}.\n\nReason: Private event`);
  expect(await history(b.id)).toEqual([
    created,
    await claimedBy(b.guest),
    { from: 'PENDING', to: 'REJECTED', actor: 'admin', actorId: null, reason: 'Private event' },
  ]);
});

test.each(['sync', 'async'] as const)(
  'a manager outside the 24-hour window (131047, %s) gets the approved template and decides from its quick reply',
  async (mode) => {
    const [m0, m1] = r.managers;
    fake.fail({ to: m0.phone, type: 'interactive', code: 131047, mode, times: 1 });
    const b = await claimedBooking();
    const templates = await eventually(
      async () => decisionRequests(m0.phone, b.id).filter((m) => m.type === 'template'),
      (ms) => ms.length === 1,
    );
    const facts = managerFacts(b);
    expect(templates[0].body).toEqual({
      messaging_product: 'whatsapp',
      biz_opaque_callback_data: ROW_CALLBACK,
      recipient_type: 'individual',
      to: m0.phone,
      type: 'template',
      template: {
        name: TEMPLATE,
        language: { policy: 'deterministic', code: 'ru' },
        components: [
          {
            type: 'body',
            parameters: [`#${b.id}`, 'Test Bistro', facts.date, facts.time, facts.table, '2', GUEST_NAME, facts.guestPhone, SPECIAL_REQUESTS, facts.preorder].map(
              (text) => ({ type: 'text', text }),
            ),
          },
          ...decisionIds(b.id).map((payload, index) => ({ type: 'button', sub_type: 'quick_reply', index: String(index), parameters: [{ type: 'payload', payload }] })),
        ],
      },
    });
    // Sync: Meta answers the request with the error. Async: Meta accepts it, then reports it failed.
    const refused = decisionAttempts(m0.phone, b.id).filter((q) => (q.body as any).type === 'interactive');
    expect(refused.map((q) => [q.status, (q.response as any).error?.code])).toEqual([mode === 'sync' ? [400, 131047] : [200, undefined]]);
    const interactive = decisionRequests(m0.phone, b.id).find((m) => m.type === 'interactive');
    expect(decisionRequests(m1.phone, b.id).map((m) => m.type)).toEqual(['interactive']);

    const requestKey = key(b.id, 'managerRequest', m0.phone);
    expect(await settledRows({ booking_id: b.id, phone: m0.phone })).toEqual([
      failedRow(requestKey, m0.phone, 131047, interactive?.id),
      readRow('managerRequest', `${requestKey}:template`, templates[0]),
    ]);
    expect(decisionRequests(m0.phone, b.id)).toHaveLength(mode === 'sync' ? 1 : 2);

    const tap = await fake.tapButton(m0.phone, actionId('approve', b.id), { template: true, contextId: templates[0].id });
    expect(tap.delivery.status).toBe(200);
    await waitForStatus(b.id, 'APPROVED');
    expect((await history(b.id)).at(-1)).toEqual({ from: 'PENDING', to: 'APPROVED', actor: 'manager', actorId: m0.userId, reason: null });
  },
);

test('a permanent refusal (131026) for one manager neither stops the other manager nor is retried', async () => {
  const [m0, m1] = r.managers;
  fake.fail({ to: m1.phone, code: 131026, title: 'Message undeliverable', times: 1 });
  const b = await claimedBooking();
  expect(decisionRequests(m0.phone, b.id)).toHaveLength(1);
  expect(decisionRequests(m1.phone, b.id)).toEqual([]);
  expect(decisionAttempts(m1.phone, b.id).map((q) => [q.status, (q.response as any).error.code])).toEqual([[400, 131026]]);
  // One manager was reached, so the owner is not asked early.
  expect(sentTo(r.owner.phone)).toEqual([]);
  expect(await settledRows({ booking_id: b.id, phone: m1.phone })).toEqual([
    failedRow(key(b.id, 'managerRequest', m1.phone), m1.phone, 131026),
  ]);
  expect(await bookingStatus(b.id)).toBe('PENDING');
});

test('a webhook with a forged, missing or mismatched signature is refused with 401 and has no effect', async () => {
  const b = await book();
  const guest = guestPhone();
  await fake.settled(); // earlier messages' status webhooks go out with the right secret
  fake.configureWebhook({ ...webhook, appSecret: 'not-the-app-secret', retries: 0 });
  const forged = await fake.receiveText(guest, b.claimText, { name: GUEST_NAME });
  fake.configureWebhook(webhook);
  expect(forged.delivery.status).toBe(401);
  const raw = JSON.stringify(forged.delivery.body);
  expect(await postWebhook(raw, null)).toBe(401);
  expect(await postWebhook(raw.replaceAll(phoneDigits(guest), phoneDigits(guestPhone())), sign(raw, APP_SECRET))).toBe(401);

  expect(await messageRows({ provider_message_id: forged.messageId })).toEqual([]);
  expect(await history(b.id)).toEqual([created]);
  expect(sentTo(guest)).toEqual([]);
  // The same bytes signed with the app secret do claim it: only the signatures were missing.
  expect(await redeliver(forged.delivery)).toBe(200);
  await waitForStatus(b.id, 'PENDING');
});

test('the server answers the webhook ahead of express as the app answers everything: request id, error shape, limits, metrics', async () => {
  const metric = async () => {
    const text = await (await fetch(`${system.apiUrl}/metrics`, { headers: { authorization: `Bearer ${ts.adminToken}` } })).text();
    const line = text.split('\n').find((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes('route="/api/whatsapp/webhook"') && l.includes('status="401"'));
    return Number(line?.split(' ').at(-1) ?? 0);
  };
  const before = await metric();
  const refused = await fetch(webhook.url, { method: 'POST', headers: { 'x-request-id': 'meta-delivery-1' }, body: '{}' });
  expect(refused.status).toBe(401);
  expect(refused.headers.get('x-request-id')).toBe('meta-delivery-1');
  expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await refused.json()).toEqual({ error: { code: 'unauthorized', message: 'the X-Hub-Signature-256 header does not match the body' } });
  expect(await metric()).toBe(before + 1);

  // Streamed without a length, the body is cut off at 3 MB and the caller still gets its answer.
  const chunk = new TextEncoder().encode('x'.repeat(256 * 1024));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ < 16) controller.enqueue(chunk);
      else controller.close();
    },
  });
  const tooLarge = await fetch(webhook.url, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
  expect(tooLarge.status).toBe(413);
  expect((await tooLarge.json()).error.code).toBe('payload_too_large');

  const compressed = await fetch(webhook.url, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: 'x' });
  expect(compressed.status).toBe(415);
  expect((await compressed.json()).error.code).toBe('unsupported_media_type');

  // Other methods and paths are still the app's.
  const put = await fetch(webhook.url, { method: 'PUT', body: '{}' });
  expect(put.status).toBe(404);
  expect((await put.json()).error.code).toBe('not_found');
});

test('APPROVE from a number that is not this restaurant\'s manager is refused and changes nothing', async () => {
  const elsewhere = await createRestaurantFixture(t.db, { managerLanguage: 'en' });
  const outsider = elsewhere.managers[0];
  const b = await claimedBooking();
  const tap = await fake.tapButton(outsider.phone, actionId('approve', b.id), { name: outsider.name });
  const [refusal] = await eventually(async () => repliesTo(tap.messageId), (ms) => ms.length === 1);
  // Not a manager here, so addressed like anyone writing from a +7 number.
  expect(refusal.body).toMatchObject({ to: outsider.phone, type: 'text', text: { body: 'Извините, это могут сделать только менеджеры этого ресторана.' } });
  expect(await settledRows({ provider_message_id: tap.messageId })).toEqual([inRow('button', outsider.phone, tap.messageId)]);
  expect(await bookingStatus(b.id)).toBe('PENDING');

  // The booking's own manager can still approve it, and only that approval is on record.
  const m1 = r.managers[1];
  await fake.tapButton(m1.phone, actionId('approve', b.id));
  await waitForStatus(b.id, 'APPROVED');
  expect(await history(b.id)).toEqual([
    created,
    await claimedBy(b.guest),
    { from: 'PENDING', to: 'APPROVED', actor: 'manager', actorId: m1.userId, reason: null },
  ]);
  expect(repliesTo(tap.messageId)).toHaveLength(1);
});

test('a claim with an unknown code gets a polite answer and nothing else happens', async () => {
  const draft = await book();
  const stranger = guestPhone('+120255');
  const texts = ['BOOKING:999999999-abcdefghjk', draft.claimText.replace(/-[a-z2-9]+$/, '-abcdefghjk')];
  const rows: MessageRow[] = [];
  for (const text of texts) {
    const sent = await fake.receiveText(stranger, text);
    const [reply] = await eventually(async () => repliesTo(sent.messageId), (ms) => ms.length === 1);
    expect(reply.body).toMatchObject({
      to: stranger,
      type: 'text',
      text: { body: "We could not find a booking for this code, or it has expired. Please check the code or book again on the restaurant's website." },
    });
    rows.push(inRow('text', stranger, sent.messageId), readRow('claimInvalid', key('none', 'claimInvalid', stranger, sent.messageId), reply));
  }
  expect(await settledRows({ phone: stranger })).toEqual(rows);
  expect(sentTo(stranger)).toHaveLength(texts.length);
  expect(await history(draft.id)).toEqual([created]);
  expect(await messageRows({ booking_id: draft.id })).toEqual([]);
  for (const m of r.managers) expect(decisionRequests(m.phone, draft.id)).toEqual([]);
});

test('status webhooks move a message forward only: sent → delivered → read, and a late delivered after read changes nothing', async () => {
  await fake.settled();
  fake.configureWebhook({ ...webhook, statuses: false });
  const b = await claimedBooking();
  const [waiting] = sentTo(b.guest);
  const [request] = decisionRequests(r.managers[0].phone, b.id);
  const statusOf = async (m: AcceptedMessage) => (await messageRows({ provider_message_id: m.id }))[0]?.status;
  for (const m of [waiting, request]) await eventually(() => statusOf(m), (s) => s === 'sent');

  const steps: [AcceptedMessage, string, string][] = [
    [waiting, 'delivered', 'delivered'],
    [waiting, 'read', 'read'],
    [request, 'read', 'read'],
    [request, 'delivered', 'read'],
  ];
  for (const [m, status, after] of steps) {
    expect(await postWebhook(statusWebhook(m, status))).toBe(200);
    expect({ status, after: await statusOf(m) }).toEqual({ status, after });
  }
  const events = await t.db('whatsapp_status_events').where({ provider_message_id: request.id }).orderBy('id').pluck('status');
  expect(events).toEqual(['read', 'delivered']);
});

test('a server error (131000) for one manager is retried up to its cap, then reported as that manager\'s failure', async () => {
  // The workflow's retry policy waits 2 s, 4 s, 8 s ... between attempts: the attempts are driven here.
  const b = await book();
  const [m0, m1] = r.managers;
  fake.fail({ to: m1.phone, code: 131000, title: 'Something went wrong' });
  const graph = createGraphClient({ apiUrl: fake.url, apiVersion: config.WHATSAPP_API_VERSION, phoneNumberId: PHONE_NUMBER_ID, accessToken: ACCESS_TOKEN });
  try {
    const logger = createLogger('silent');
    const { notifyManagers } = createActivities({ config, db: t.db, logger, channel: createWhatsAppChannel({ config, db: t.db, logger, graph }) });
    // The attempt that is retried logs a warning by design.
    const quiet = new DefaultLogger('ERROR');
    const reminder: Parameters<typeof notifyManagers>[0] = { bookingId: b.id, purpose: 'managerReminder', roles: ['manager'] };
    const attempt = (n: number) => new MockActivityEnvironment({ attempt: n }, { logger: quiet }).run(notifyManagers, reminder);
    await expect(attempt(4)).rejects.toMatchObject({ type: 'WhatsAppRetryableError', nonRetryable: false });
    await expect(attempt(5)).resolves.toEqual({ sent: 1, failed: [{ phone: m1.phone, code: 131000 }] });
    expect(decisionRequests(m0.phone, b.id)).toHaveLength(1);
    expect(decisionAttempts(m1.phone, b.id).map((q) => q.status)).toEqual([400, 400]);
  } finally {
    await graph.close();
  }
});

test('a worker killed after Meta accepted a message does not send it again: the status webhook stores the wamid on its row', async () => {
  const b = await book();
  const guest = guestPhone();
  const booking = (await getBookingDetails(t.db, b.id))!;
  const n: Notification = { purpose: 'guestWaiting', recipient: { role: 'guest', phone: guest, language: 'en', name: GUEST_NAME }, booking };
  const graph = createGraphClient({ apiUrl: fake.url, apiVersion: config.WHATSAPP_API_VERSION, phoneNumberId: PHONE_NUMBER_ID, accessToken: ACCESS_TOKEN });
  const logger = createLogger('silent');
  try {
    const wamid = await sendAndDie({ config, db: t.db, logger, graph }, n);
    // Meta's sent → delivered → read for it reach the API as signed webhooks, each naming the row.
    await fake.settled();
    const [row] = await t.db('whatsapp_messages').where({ idempotency_key: idempotencyKey(n) }).select('id', 'status', 'provider_message_id as wamid');
    const callbackData = fake.webhookDeliveries.flatMap((d) => (d.body as any).entry[0].changes[0].value.statuses ?? []).filter((s: any) => s.id === wamid).map((s: any) => s.biz_opaque_callback_data);
    expect(callbackData).toEqual([`wab:${row.id}`, `wab:${row.id}`, `wab:${row.id}`]);
    expect(row).toMatchObject({ status: 'read', wamid });

    // The activity's retry, once the dead attempt's lease is over, finds the wamid.
    const retry = createWhatsAppChannel({ config, db: t.db, logger, graph, sendLeaseMs: 1 });
    expect(await retry.send(n)).toMatchObject({ status: 'sent', providerMessageId: wamid, reused: true });
    expect(sentTo(guest)).toHaveLength(1);
  } finally {
    await graph.close();
  }
});

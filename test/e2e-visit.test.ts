/**
 * The visit (#10) end to end: the real API, worker and webhook inbox (runtime/system.ts) on the
 * shared dev server and a fresh database, talking to the fake Graph API as to Meta. Guests and
 * managers answer with signed webhooks: taps on reply buttons, template quick replies and list
 * rows, and typed text.
 *
 * Two bookings start a few seconds after they are made (EXPIRE_BEFORE_START and
 * ARRIVAL_CHECK_AFTER are seconds here), so the arrival check comes while the test runs.
 */
import { WHATSAPP_WEBHOOK_PATH } from '../api/routes/whatsappWebhook';
import { actionId, rejectReasonId } from '../domain/actions';
import { phoneDigits } from '../domain/phone';
import type { RunningSystem } from '../runtime/system';
import { startFakeGraphApi, type AcceptedMessage, type FakeGraphApi } from '../sandbox/graph';
import { LOCALES, MANAGER_TEMPLATE_PARAMETERS, REMINDER_TEMPLATE_PARAMETERS } from '../whatsapp/render';
import { fireReminderSignal, workflowIdFor } from '../workflows/definitions';
import type { TestDatabase } from './helpers/db';
import { createRestaurantFixture, eventually, type RestaurantFixture } from './helpers/fixtures';
import { startTestSystem, type TestSystem } from './helpers/system';

const ACCESS_TOKEN = 'e2e-visit-graph-token';
const APP_SECRET = 'e2e-visit-app-secret';
const PHONE_NUMBER_ID = '106540352242923';
const RESTAURANT_PHONE = '+77272345678';
/** Bookings that start this soon after they are made: their arrival check is due within the test. */
const SOON_MS = 12_000;

let ts: TestSystem;
let t: TestDatabase;
let system: RunningSystem;
let fake: FakeGraphApi;
let r: RestaurantFixture;
let secondTableId: number;

beforeAll(async () => {
  fake = await startFakeGraphApi({
    accessToken: ACCESS_TOKEN,
    phoneNumberId: PHONE_NUMBER_ID,
    templates: [
      { name: 'booking_request', languages: ['en', 'ru', 'kk'], bodyParameters: MANAGER_TEMPLATE_PARAMETERS.length, quickReplies: 3 },
      { name: 'booking_reminder', languages: ['en', 'ru', 'kk'], bodyParameters: REMINDER_TEMPLATE_PARAMETERS.length, quickReplies: 2 },
    ],
  });
  ts = await startTestSystem('e2e-visit', {
    WHATSAPP_API_URL: fake.url,
    WHATSAPP_ACCESS_TOKEN: ACCESS_TOKEN,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: 'e2e-visit-verify',
    EXPIRE_BEFORE_START: '1s',
    ARRIVAL_CHECK_AFTER: '1s',
  });
  ({ t, system } = ts);
  fake.configureWebhook({ url: `${system.apiUrl}${WHATSAPP_WEBHOOK_PATH}`, appSecret: APP_SECRET });
  r = await createRestaurantFixture(t.db, { managerLanguage: 'en' });
  await t.db('restaurants').where({ id: r.restaurantId }).update({ phone: RESTAURANT_PHONE });
  [{ id: secondTableId }] = await t.db('tables').insert({ restaurant_id: r.restaurantId, name: 'Table 7', seats: 4 }).returning('id');
}, 120_000);

afterAll(async () => {
  await fake?.settled();
  await ts?.stop();
  await fake?.close();
});

// ---- people and bookings -------------------------------------------------------------

let guestSeq = 0;
/** English-speaking guests (+44). */
const newGuest = () => `+4477009${String(++guestSeq).padStart(5, '0')}`;
let slot = 0;

interface Booking {
  id: number;
  guest: string;
}

/** POST /api/bookings, then the guest sends the claim text; resolves once every manager has the request. */
async function claimedBooking(guest: string, opts: { startsInMs?: number; tableId?: number } = {}): Promise<Booking> {
  const startsAt = new Date(Date.now() + (opts.startsInMs ?? 2 * 86_400_000 + ++slot * 3 * 3_600_000)).toISOString();
  const res = await fetch(`${system.apiUrl}/api/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ restaurantId: r.restaurantId, tableId: opts.tableId ?? r.tableId, startsAt, partySize: 2 }),
  });
  const body = (await res.json()) as { id: number; claimText: string };
  expect(res.status).toBe(201);
  await fake.receiveText(guest, body.claimText, { name: 'Ana' });
  await eventually(async () => r.managers.every((m) => withButton(m.phone, actionId('approve', body.id)).length > 0), Boolean);
  return { id: body.id, guest };
}

async function approved(guest: string, opts: { startsInMs?: number; tableId?: number } = {}): Promise<Booking> {
  const b = await claimedBooking(guest, opts);
  await tap(r.managers[0].phone, actionId('approve', b.id));
  await waitForStatus(b.id, 'APPROVED');
  return b;
}

// ---- what was sent, what comes back ------------------------------------------------------

const sentTo = (phone: string) => fake.accepted.filter((m) => m.to === phoneDigits(phone));
const body = (m: AcceptedMessage) => m.body as any;
/** Reply-button ids, list row ids or quick-reply payloads: whatever the person can tap. */
function tappable(m: AcceptedMessage): string[] {
  const b = body(m);
  if (b.type === 'template') return b.template.components.filter((c: any) => c.type === 'button').map((c: any) => c.parameters[0].payload);
  if (b.type !== 'interactive') return [];
  if (b.interactive.type === 'list') return b.interactive.action.sections.flatMap((s: any) => s.rows.map((row: any) => row.id));
  return (b.interactive.action.buttons ?? []).map((x: any) => x.reply.id);
}
const withButton = (phone: string, id: string) => sentTo(phone).filter((m) => tappable(m).includes(id));
const textOf = (m: AcceptedMessage): string => {
  const b = body(m);
  return b.type === 'text' ? b.text.body : b.type === 'interactive' ? b.interactive.body.text : JSON.stringify(b.template);
};
const repliesTo = (messageId: string) => fake.accepted.filter((m) => body(m).context?.message_id === messageId);

/** The one message to `phone` offering `id`, once it came. */
const offered = (phone: string, id: string) => eventually(async () => withButton(phone, id), (ms) => ms.length === 1).then(([m]) => m);
/** The first message to `phone` whose text matches, once it came. */
const told = (phone: string, pattern: RegExp) =>
  eventually(async () => sentTo(phone).filter((m) => pattern.test(textOf(m))), (ms) => ms.length > 0).then(([m]) => m);

/** Taps `id` on the message that offers it, as Meta delivers a reply button, template quick reply or list row. */
async function tap(phone: string, id: string): Promise<string> {
  const m = await offered(phone, id);
  const isList = body(m).interactive?.type === 'list';
  const { messageId, delivery } = await fake.tapButton(phone, id, { contextId: m.id, template: m.type === 'template', list: isList });
  expect(delivery.status).toBe(200);
  return messageId;
}

async function write(phone: string, text: string): Promise<string> {
  const { messageId, delivery } = await fake.receiveText(phone, text);
  expect(delivery.status).toBe(200);
  return messageId;
}

const bookingRow = (id: number) => t.db('bookings').where({ id }).first();
const waitForStatus = (id: number, status: string) => eventually(async () => (await bookingRow(id)).status, (s) => s === status);
const history = (id: number) => t.db('booking_history').where('booking_id', id).orderBy('id').select('to_status as to', 'event', 'actor_type as actor', 'reason');
const fireReminder = (id: number) => ts.dev.client.workflow.getHandle(workflowIdFor(id)).signal(fireReminderSignal);

// ---- the stories -----------------------------------------------------------------------

const regular = newGuest();

test('the reminder: Confirm is recorded and the managers told; outside the 24-hour window it comes as the template; Cancel → Yes cancels it', async () => {
  const b = await approved(regular);
  await fireReminder(b.id);
  const reminder = await offered(regular, actionId('confirmVisit', b.id));
  expect(body(reminder).interactive.action.buttons).toEqual([
    { type: 'reply', reply: { id: `CONFIRM_VISIT:${b.id}`, title: 'Confirm' } },
    { type: 'reply', reply: { id: `CANCEL_BOOKING:${b.id}`, title: 'Cancel booking' } },
  ]);
  expect(textOf(reminder)).toContain('Test Bistro');

  const confirm = await tap(regular, actionId('confirmVisit', b.id));
  await eventually(async () => repliesTo(confirm), (ms) => ms.length === 1);
  expect(textOf(repliesTo(confirm)[0])).toMatch(/^Thank you for confirming!/);
  expect((await bookingRow(b.id)).guest_confirmed_at).toBeInstanceOf(Date);
  for (const m of r.managers) await told(m.phone, new RegExp(`Ana confirmed they are coming: booking #${b.id}`));
  expect(await history(b.id)).toContainEqual(expect.objectContaining({ event: 'guest_confirmed', actor: 'guest' }));

  // The guest's window has closed: the interactive reminder is refused, its template goes instead.
  fake.fail({ to: regular, type: 'interactive', code: 131047, title: 'Re-engagement message', times: 1 });
  await fireReminder(b.id);
  const template = await eventually(async () => sentTo(regular).filter((m) => m.type === 'template'), (ms) => ms.length === 1).then(([m]) => m);
  expect(body(template).template).toMatchObject({ name: 'booking_reminder', language: { code: 'en' } });
  expect(tappable(template)).toEqual([`CONFIRM_VISIT:${b.id}`, `CANCEL_BOOKING:${b.id}`]);

  // Cancel from the template's quick reply, then Yes.
  const cancel = await fake.tapButton(regular, actionId('cancelBooking', b.id), { contextId: template.id, template: true });
  const [question] = await eventually(async () => repliesTo(cancel.messageId), (ms) => ms.length === 1);
  expect(textOf(question)).toMatch(/^Cancel your booking at Test Bistro on .+\?/);
  expect(tappable(question)).toEqual([`CANCEL_YES:${b.id}`, `CANCEL_NO:${b.id}`]);
  const yes = await tap(regular, actionId('cancelYes', b.id));
  await waitForStatus(b.id, 'CANCELLED');
  expect(await history(b.id)).toContainEqual({ to: 'CANCELLED', event: null, actor: 'guest', reason: null });
  const [ack] = await eventually(async () => repliesTo(yes), (ms) => ms.length === 1);
  expect(textOf(ack)).toMatch(/^Done: your booking at Test Bistro .* is cancelled/);
  for (const m of r.managers) await told(m.phone, new RegExp(`Ana cancelled booking #${b.id} .* The table is free again`));
});

test('a manager rejects and picks the reason from the list: the decision applies at once, the guest hears the reason', async () => {
  const guest = newGuest();
  const b = await claimedBooking(guest);
  const [m0, m1] = r.managers;
  const reject = await tap(m0.phone, actionId('reject', b.id));
  await waitForStatus(b.id, 'REJECTED');
  const [list] = await eventually(async () => repliesTo(reject).filter((m) => body(m).interactive?.type === 'list'), (ms) => ms.length === 1);
  expect(body(list).interactive.action.button).toBe('Choose reason');
  expect(tappable(list)).toEqual(['fully_booked', 'closed', 'private_event', 'table_unavailable', 'other'].map((c) => `REJECT_REASON:${b.id}:${c}`));
  // Another manager is told who handled it.
  const late = await tap(m1.phone, actionId('approve', b.id));
  const [handled] = await eventually(async () => repliesTo(late), (ms) => ms.length === 1);
  expect(textOf(handled)).toBe(`Booking #${b.id} is already declined by Aigerim.`);
  // The guest's message waits for the reason.
  expect(sentTo(guest).filter((m) => /cannot accept/.test(textOf(m)))).toEqual([]);

  await tap(m0.phone, rejectReasonId(b.id, 'fully_booked'));
  const rejected = await told(guest, /cannot accept your booking/);
  expect(textOf(rejected)).toContain(`Reason: ${LOCALES.en.rejectReasons.fully_booked.guest}`);
  expect((await bookingRow(b.id)).decision_reason).toBe('fully_booked');
});

test('a manager rejects and types the reason: the next text after "Other reason" is what the guest reads', async () => {
  const guest = newGuest();
  const b = await claimedBooking(guest);
  const m1 = r.managers[1];
  await tap(m1.phone, actionId('reject', b.id));
  await waitForStatus(b.id, 'REJECTED');
  const other = await tap(m1.phone, rejectReasonId(b.id, 'other'));
  const [prompt] = await eventually(async () => repliesTo(other), (ms) => ms.length === 1);
  expect(textOf(prompt)).toBe(`Please type the reason for rejecting booking #${b.id} in your next message. The guest will read it.`);
  await write(m1.phone, 'The kitchen is closed for a private party');
  const rejected = await told(guest, /cannot accept your booking/);
  expect(textOf(rejected)).toContain('Reason: The kitchen is closed for a private party');
  expect((await bookingRow(b.id)).decision_reason).toBe('The kitchen is closed for a private party');
});

test('after the start: a late cancel is refused with the restaurant\'s number; Arrived and No-show are recorded; the next request shows the guest\'s record', async () => {
  // Two bookings of the regular guest that start in a moment, on two tables.
  const [noShow, visit] = await Promise.all([
    approved(regular, { startsInMs: SOON_MS }),
    approved(regular, { startsInMs: SOON_MS, tableId: secondTableId }),
  ]);

  // Inside the cutoff (2 h by default): /cancel asks, Yes is refused politely.
  const ask = await write(regular, '/cancel');
  const [choose] = await eventually(async () => repliesTo(ask), (ms) => ms.length === 1);
  expect(body(choose).interactive.type).toBe('list');
  expect(tappable(choose).sort()).toEqual([actionId('cancelBooking', noShow.id), actionId('cancelBooking', visit.id)].sort());
  const picked = await tap(regular, actionId('cancelBooking', noShow.id));
  await eventually(async () => repliesTo(picked), (ms) => ms.length === 1);
  const yes = await tap(regular, actionId('cancelYes', noShow.id));
  const [refused] = await eventually(async () => repliesTo(yes), (ms) => ms.length === 1);
  expect(textOf(refused)).toContain('Cancelling in the chat closes 2 hours before the start.');
  expect(textOf(refused)).toContain('Please call Test Bistro: +7 7272 34 56 78.');
  expect((await bookingRow(noShow.id)).status).toBe('APPROVED');

  // /status lists both upcoming bookings.
  const status = await write(regular, '/status');
  const [list] = await eventually(async () => repliesTo(status), (ms) => ms.length === 1);
  expect(textOf(list)).toMatch(/^You have 2 upcoming bookings:/);
  for (const b of [noShow, visit]) expect(textOf(list)).toContain(`Booking #${b.id}: confirmed`);

  // ARRIVAL_CHECK_AFTER past the start, the managers are asked.
  const [m0, m1] = r.managers;
  const check = await offered(m0.phone, actionId('noShow', noShow.id));
  expect(tappable(check)).toEqual([`ARRIVED:${noShow.id}`, `NO_SHOW:${noShow.id}`]);
  expect(textOf(check)).toContain('Please tell us whether the guest came.');
  await tap(m0.phone, actionId('noShow', noShow.id));
  await offered(m1.phone, actionId('arrived', visit.id));
  await tap(m1.phone, actionId('arrived', visit.id));
  await waitForStatus(noShow.id, 'NO_SHOW');
  await waitForStatus(visit.id, 'SEATED');
  expect(await history(noShow.id)).toContainEqual({ to: 'NO_SHOW', event: null, actor: 'manager', reason: null });
  expect(await history(visit.id)).toContainEqual({ to: 'SEATED', event: null, actor: 'manager', reason: null });

  // The regular's next request shows their record here: the visit, the no-show, the cancellation.
  const next = await claimedBooking(regular);
  const [request] = withButton(m0.phone, actionId('approve', next.id));
  expect(textOf(request)).toContain('📊 At this restaurant: 1 visit, 1 no-show, 1 cancellation');
}, 60_000);

test('unknown text gets the help once a day; /help always', async () => {
  const guest = newGuest();
  const first = await write(guest, 'hello');
  const [help] = await eventually(async () => repliesTo(first), (ms) => ms.length === 1);
  expect(textOf(help)).toContain('/status: your upcoming bookings');
  const second = await write(guest, 'is anyone there?');
  const asked = await write(guest, '/help');
  await eventually(async () => repliesTo(asked), (ms) => ms.length === 1);
  // The inbox acts on one sender's messages in order: the second was handled before /help, unanswered.
  expect(repliesTo(second)).toEqual([]);
  expect(await t.db('whatsapp_messages').where({ provider_message_id: second }).first('processed_at')).toEqual({ processed_at: expect.any(Date) });
});

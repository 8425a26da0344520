/**
 * The visit (#10) on the Java time-skipping server: reminders, the guest's Confirm and Cancel,
 * the reason for a rejection, the arrival check and the end of the slot. Every timer is driven
 * by env.sleep(). Real worker, real activities, real Postgres; the channel is the outbox, so
 * what each person was told is read back from whatsapp_messages.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createActivities } from '../activities';
import { actionId } from '../domain/actions';
import { TABLE_HOLDING_STATUSES } from '../domain/booking';
import { getBookingDetails } from '../db/bookingViews';
import { insertDraftBooking } from '../db/bookings';
import { createLogger } from '../observability/logger';
import { bookingHandle } from '../temporal/bookingClient';
import { BookingStatusKey } from '../temporal/searchAttributes';
import { OUTSIDE_WINDOW } from '../whatsapp/errors';
import { createOutboxChannel } from '../whatsapp/channel';
import {
  approveSignal,
  arrivedSignal,
  cancelSignal,
  claimSignal,
  confirmVisitSignal,
  deliveryFailedSignal,
  fireReminderSignal,
  noShowSignal,
  rejectReasonSignal,
  rejectSignal,
  statusQuery,
  workflowIdFor,
  type DeciderActor,
} from '../workflows/definitions';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createDraft, createRestaurantFixture, eventually, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { recordHistory } from './helpers/histories';
import { createTimeSkippingEnv, getWorkflowBundle, uniqueId } from './helpers/temporal';

const MIN = 60_000;
const HOUR = 60 * MIN;
const config = loadConfig({});
const RESTAURANT_PHONE = '+77272000000';

let t: TestDatabase;
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let r: RestaurantFixture;
const taskQueue = uniqueId('visit');

beforeAll(async () => {
  [t, env] = await Promise.all([createTestDatabase(), createTimeSkippingEnv()]);
  r = await createRestaurantFixture(t.db);
  await t.db('restaurants').where({ id: r.restaurantId }).update({ phone: RESTAURANT_PHONE });
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await getWorkflowBundle(require.resolve('../workflows')),
    activities: createActivities({ config, db: t.db, channel: createOutboxChannel({ db: t.db }), logger: createLogger('silent') }),
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  await t?.drop();
});

type Booking = { id: number; startsAt: Date; handle: ReturnType<typeof bookingHandle>; guestPhone: string };

/**
 * Each booking gets its own day on the one table, so no two overlap (a booking made a day or
 * more ahead); `startsInMs` counts from the server's clock, which every test moves on.
 */
const newBooking = async (startsInMs: number) => {
  const row = await createDraft({ db: t.db, client: env.client, config, taskQueue }, r, { now: await env.currentTimeMs(), startsInMs });
  const b = { id: row.id, startsAt: row.startsAt, handle: bookingHandle(env.client, row.id) };
  made.push(b);
  return b;
};
/** This test's bookings, ended after it however it went, so a failure does not hold the table for the next. */
const made: Pick<Booking, 'id' | 'handle'>[] = [];
afterEach(() => finish(...made.splice(0)));

const statusOf = (b: Pick<Booking, 'handle'>) => b.handle.query(statusQuery);
const reaches = (b: Pick<Booking, 'handle'>, status: string) => eventually(() => statusOf(b), (s) => s.status === status);

const messages = (bookingId: number, purpose?: string) =>
  t
    .db('whatsapp_messages')
    .where({ booking_id: bookingId, direction: 'out', ...(purpose && { purpose }) })
    .orderBy('id')
    .select('purpose', 'phone', 'payload', 'idempotency_key as key', 'provider_message_id as providerMessageId');
const toldCount = async (bookingId: number, purpose: string) => (await messages(bookingId, purpose)).length;
const toldPhones = async (bookingId: number, purpose: string) => (await messages(bookingId, purpose)).map((m) => m.phone).sort();
const history = (bookingId: number) =>
  t
    .db('booking_history')
    .where({ booking_id: bookingId })
    .orderBy('id')
    .select('from_status as from', 'to_status as to', 'event', 'actor_type as actor', 'reason');
const rowOf = (bookingId: number) => t.db('bookings').where({ id: bookingId }).first();

const managerPhones = () => r.managers.map((m) => m.phone).sort();
const manager = (i: number): DeciderActor => ({ type: 'manager', id: r.managers[i].userId, name: r.managers[i].name, phone: r.managers[i].phone });
const guestActor = (b: Booking) => ({ type: 'guest' as const, phone: b.guestPhone, name: 'Ana' });

/** Every reply-button id and template quick-reply payload of a stored outbound message. */
function buttonIds(payload: any): string[] {
  const buttons = payload?.interactive?.action?.buttons?.map((b: any) => b.reply.id) ?? [];
  const quickReplies = (payload?.template?.components ?? [])
    .filter((c: any) => c.type === 'button')
    .flatMap((c: any) => c.parameters.map((p: any) => p.payload));
  return [...buttons, ...quickReplies];
}

async function claimed(startsInMs: number): Promise<Booking> {
  const b = await newBooking(startsInMs);
  const guestPhone = testPhone();
  await b.handle.signal(claimSignal, { phone: guestPhone, name: 'Ana', messageId: uniqueId('wamid') });
  await reaches(b, 'PENDING');
  return { ...b, guestPhone };
}

async function approved(startsInMs: number): Promise<Booking> {
  const b = await claimed(startsInMs);
  await b.handle.signal(approveSignal, { actor: { type: 'admin' } });
  await reaches(b, 'APPROVED');
  await eventually(() => toldCount(b.id, 'guestApproved'), (n) => n === 1);
  return b;
}

/**
 * Ends a test's bookings and frees their table: a terminated workflow leaves its row
 * APPROVED, which would hold the slot against the next test's bookings.
 */
async function finish(...bookings: Pick<Booking, 'id' | 'handle'>[]) {
  for (const b of bookings) {
    await b.handle.terminate('test over').catch(() => undefined); // already ended
    await t.db('bookings').where({ id: b.id }).whereIn('status', TABLE_HOLDING_STATUSES).update({ status: 'EXPIRED' });
  }
}

/** Moves the server's clock to `at` (epoch ms) less `beforeMs`. */
async function sleepUntil(at: number, beforeMs = 0) {
  const ms = at - beforeMs - (await env.currentTimeMs());
  if (ms > 0) await env.sleep(ms);
}

test('the guest is reminded 24 h and 2 h before the start, with Confirm and Cancel', async () => {
  const b = await approved(30 * HOUR);
  const start = b.startsAt.getTime();
  expect((await statusOf(b)).deadlines.reminders).toEqual([new Date(start - 24 * HOUR).toISOString(), new Date(start - 2 * HOUR).toISOString()]);

  await sleepUntil(start - 24 * HOUR, MIN);
  expect(await toldCount(b.id, 'guestReminder')).toBe(0);
  await env.sleep(2 * MIN);
  const [first] = await eventually(() => messages(b.id, 'guestReminder'), (m) => m.length === 1);
  expect(first.phone).toBe(b.guestPhone);
  expect(buttonIds(first.payload)).toEqual([actionId('confirmVisit', b.id), actionId('cancelBooking', b.id)]);

  await sleepUntil(start - 2 * HOUR, MIN);
  expect(await toldCount(b.id, 'guestReminder')).toBe(1);
  await env.sleep(2 * MIN);
  await eventually(() => toldCount(b.id, 'guestReminder'), (n) => n === 2);
  expect(await toldPhones(b.id, 'guestReminder')).toEqual([b.guestPhone, b.guestPhone]);
});

test('no 24 h reminder for a booking made 3 h ahead, and none at all for one made 50 min ahead', async () => {
  const threeAhead = await approved(3 * HOUR);
  const soon = await approved(50 * MIN); // ends before threeAhead starts: the one table holds both
  expect((await statusOf(threeAhead)).deadlines.reminders).toEqual([new Date(threeAhead.startsAt.getTime() - 2 * HOUR).toISOString()]);
  expect((await statusOf(soon)).deadlines.reminders).toEqual([]);
  await sleepUntil(threeAhead.startsAt.getTime());
  await eventually(() => toldCount(threeAhead.id, 'guestReminder'), (n) => n === 1);
  expect(await toldCount(soon.id, 'guestReminder')).toBe(0);
});

test('Confirm records guest_confirmed_at and one history row, tells the managers once and answers every tap', async () => {
  const b = await approved(30 * HOUR);
  await b.handle.signal(confirmVisitSignal, { phone: testPhone(), messageId: uniqueId('wamid') }); // not the guest
  await b.handle.signal(confirmVisitSignal, { phone: b.guestPhone, messageId: uniqueId('wamid') });
  await b.handle.signal(confirmVisitSignal, { phone: b.guestPhone, messageId: uniqueId('wamid') });
  await eventually(() => toldCount(b.id, 'guestConfirmedAck'), (n) => n === 2);
  await eventually(() => toldCount(b.id, 'managerGuestConfirmed'), (n) => n === 2);
  expect(await toldPhones(b.id, 'managerGuestConfirmed')).toEqual(managerPhones());
  expect(await toldPhones(b.id, 'guestConfirmedAck')).toEqual([b.guestPhone, b.guestPhone]);

  const row = await rowOf(b.id);
  expect(row.guest_confirmed_at).toBeInstanceOf(Date);
  expect((await statusOf(b)).guestConfirmedAt).toBe(row.guest_confirmed_at.toISOString());
  expect((await history(b.id)).filter((h) => h.event)).toEqual([
    { from: 'APPROVED', to: 'APPROVED', event: 'guest_confirmed', actor: 'guest', reason: null },
  ]);
  expect(row.status).toBe('APPROVED');
});

test('the guest cancels outside the cutoff: CANCELLED by the guest, the table freed, managers told, the guest answered', async () => {
  const b = await approved(30 * HOUR);
  await b.handle.signal(cancelSignal, { actor: { type: 'guest', phone: testPhone() }, messageId: uniqueId('wamid') }); // someone else
  const tap = uniqueId('wamid');
  await b.handle.signal(cancelSignal, { actor: guestActor(b), messageId: tap });
  await reaches(b, 'CANCELLED');
  await eventually(() => toldCount(b.id, 'managerGuestCancelled'), (n) => n === 2);
  await eventually(() => toldCount(b.id, 'guestCancelledAck'), (n) => n === 1);
  expect(await toldPhones(b.id, 'managerGuestCancelled')).toEqual(managerPhones());
  expect((await messages(b.id, 'guestCancelledAck'))[0].payload.context?.message_id).toBe(tap);
  expect(await toldCount(b.id, 'guestCancelled')).toBe(0);
  expect((await history(b.id)).at(-1)).toMatchObject({ from: 'APPROVED', to: 'CANCELLED', actor: 'guest' });
  expect((await rowOf(b.id)).status).toBe('CANCELLED');

  // The slot is free again for a new booking of the same table.
  const again = await insertDraftBooking(t.db, {
    restaurantId: r.restaurantId,
    tableId: r.tableId,
    startsAt: b.startsAt,
    endsAt: new Date(b.startsAt.getTime() + HOUR),
    partySize: 2,
    claimSecret: (id) => `WB-${id}-freeslot`,
    claimExpiresAt: b.startsAt,
    workflowIdFor,
    items: [],
    requireFreeSlot: true,
  });
  expect(again.status).toBe('DRAFT');
  await t.db('bookings').where({ id: again.id }).update({ status: 'EXPIRED' });
});

test('a guest cancel within GUEST_CANCEL_CUTOFF is refused with the restaurant number; a finished booking cannot be cancelled', async () => {
  const b = await approved(30 * HOUR);
  await sleepUntil(b.startsAt.getTime(), 2 * HOUR - MIN); // 1 h 59 min before the start
  await b.handle.signal(cancelSignal, { actor: guestActor(b), messageId: uniqueId('wamid') });
  const [refused] = await eventually(() => messages(b.id, 'guestCancelRefused'), (m) => m.length === 1);
  expect(refused.phone).toBe(b.guestPhone);
  expect(refused.payload.text.body.replace(/\D/g, '')).toContain(RESTAURANT_PHONE.slice(1));
  expect((await statusOf(b)).status).toBe('APPROVED');
  expect((await rowOf(b.id)).status).toBe('APPROVED');
  expect(await toldCount(b.id, 'managerGuestCancelled')).toBe(0);

  await b.handle.signal(cancelSignal, { actor: { type: 'admin' }, reason: 'Kitchen closed' });
  await reaches(b, 'CANCELLED');
  await b.handle.signal(cancelSignal, { actor: guestActor(b), messageId: uniqueId('wamid') });
  await eventually(() => toldCount(b.id, 'guestCancelRefused'), (n) => n === 2);
  expect((await history(b.id)).filter((h) => h.to === 'CANCELLED')).toEqual([
    { from: 'APPROVED', to: 'CANCELLED', event: null, actor: 'admin', reason: 'Kitchen closed' },
  ]);
});

test('Reject in WhatsApp applies at once; the guest hears the reason the deciding manager picks from the list', async () => {
  const b = await claimed(30 * HOUR);
  const tap = uniqueId('wamid');
  await b.handle.signal(rejectSignal, { actor: manager(0), messageId: tap });
  await reaches(b, 'REJECTED');
  expect((await rowOf(b.id)).status).toBe('REJECTED');
  const [request] = await eventually(() => messages(b.id, 'rejectReasonRequest'), (m) => m.length === 1);
  expect(request.phone).toBe(r.managers[0].phone);
  expect(request.payload.interactive?.type).toBe('list');
  await eventually(() => toldCount(b.id, 'decisionAck'), (n) => n === 1);
  // A later tap by the other manager is told who handled it, as before.
  await b.handle.signal(approveSignal, { actor: manager(1), messageId: uniqueId('wamid') });
  await eventually(() => toldCount(b.id, 'alreadyDecided'), (n) => n === 1);

  await env.sleep(MIN);
  expect(await toldCount(b.id, 'guestRejected')).toBe(0); // still waiting for the reason
  await b.handle.signal(rejectReasonSignal, { actor: manager(1), code: 'closed' }); // not the decider
  await b.handle.signal(rejectReasonSignal, { actor: manager(0), code: 'fully_booked', messageId: uniqueId('wamid') });
  const [rejected] = await eventually(() => messages(b.id, 'guestRejected'), (m) => m.length === 1);
  expect(rejected.phone).toBe(b.guestPhone);
  expect((await rowOf(b.id)).decision_reason).toBe('fully_booked');
  expect((await history(b.id)).at(-1)).toMatchObject({ to: 'REJECTED', actor: 'manager', reason: 'fully_booked' });
});

test('a typed reason is passed on as written', async () => {
  const b = await claimed(30 * HOUR);
  await b.handle.signal(rejectSignal, { actor: manager(1), messageId: uniqueId('wamid') });
  await reaches(b, 'REJECTED');
  await b.handle.signal(rejectReasonSignal, { actor: manager(1), code: 'other', text: '  Kitchen renovation  ' });
  const [rejected] = await eventually(() => messages(b.id, 'guestRejected'), (m) => m.length === 1);
  expect(JSON.stringify(rejected.payload)).toContain('Kitchen renovation');
  expect((await rowOf(b.id)).decision_reason).toBe('Kitchen renovation');
});

test('without a reason within REJECT_REASON_WAIT the guest is told without one; a late reason changes nothing', async () => {
  const b = await claimed(30 * HOUR);
  await b.handle.signal(rejectSignal, { actor: manager(0), messageId: uniqueId('wamid') });
  await reaches(b, 'REJECTED');
  await env.sleep(MIN + 50_000);
  expect(await toldCount(b.id, 'guestRejected')).toBe(0);
  await env.sleep(20_000); // past 2 min
  await eventually(() => toldCount(b.id, 'guestRejected'), (n) => n === 1);
  await b.handle.signal(rejectReasonSignal, { actor: manager(0), code: 'closed' });
  await env.sleep(MIN);
  expect(await toldCount(b.id, 'guestRejected')).toBe(1);
  expect((await rowOf(b.id)).decision_reason).toBeNull();
  await recordHistory('visit-reject-reason-timeout', b.handle);
});

test("the admin route's reason goes to the guest at once, without asking for one", async () => {
  const b = await claimed(30 * HOUR);
  await b.handle.signal(rejectSignal, { actor: { type: 'admin' }, reason: 'Private event' });
  await reaches(b, 'REJECTED');
  const [rejected] = await eventually(() => messages(b.id, 'guestRejected'), (m) => m.length === 1);
  expect(JSON.stringify(rejected.payload)).toContain('Private event');
  expect(await toldCount(b.id, 'rejectReasonRequest')).toBe(0);
});

test('ARRIVAL_CHECK_AFTER the start managers are asked; Arrived seats the guest, the visit completes at the end of the slot', async () => {
  const b = await approved(30 * HOUR);
  const start = b.startsAt.getTime();
  await sleepUntil(start + 20 * MIN, MIN);
  expect(await toldCount(b.id, 'arrivalCheck')).toBe(0);
  await env.sleep(2 * MIN);
  const checks = await eventually(() => messages(b.id, 'arrivalCheck'), (m) => m.length === 2);
  expect(checks.map((m) => m.phone).sort()).toEqual(managerPhones());
  expect(buttonIds(checks[0].payload)).toEqual([actionId('arrived', b.id), actionId('noShow', b.id)]);

  await b.handle.signal(arrivedSignal, { actor: manager(0), messageId: uniqueId('wamid') });
  await reaches(b, 'SEATED');
  await b.handle.signal(noShowSignal, { actor: manager(1), messageId: uniqueId('wamid') }); // too late: told who handled it
  await eventually(() => toldPhones(b.id, 'alreadyDecided'), (p) => p.includes(r.managers[1].phone));
  expect((await rowOf(b.id)).status).toBe('SEATED');
  expect((await b.handle.describe()).typedSearchAttributes.get(BookingStatusKey)).toBe('SEATED');

  await sleepUntil(start + 2 * HOUR, MIN);
  expect((await statusOf(b)).status).toBe('SEATED');
  await env.sleep(2 * MIN);
  expect(await b.handle.result()).toBe('COMPLETED');
  expect((await history(b.id)).slice(-3)).toEqual([
    { from: 'PENDING', to: 'APPROVED', event: null, actor: 'admin', reason: null },
    { from: 'APPROVED', to: 'SEATED', event: null, actor: 'manager', reason: null },
    { from: 'SEATED', to: 'COMPLETED', event: null, actor: 'system', reason: null },
  ]);
  expect((await rowOf(b.id)).status).toBe('COMPLETED');
  expect((await b.handle.describe()).typedSearchAttributes.get(BookingStatusKey)).toBe('COMPLETED');
  await recordHistory('visit-completed', b.handle);
});

test('No-show is refused before the start and recorded after it', async () => {
  const b = await approved(30 * HOUR);
  await b.handle.signal(noShowSignal, { actor: manager(0), messageId: uniqueId('wamid') });
  await env.sleep(MIN);
  expect((await statusOf(b)).status).toBe('APPROVED');
  await sleepUntil(b.startsAt.getTime() + 21 * MIN);
  await eventually(() => toldCount(b.id, 'arrivalCheck'), (n) => n === 2);
  await b.handle.signal(noShowSignal, { actor: manager(1), messageId: uniqueId('wamid') });
  await reaches(b, 'NO_SHOW');
  await eventually(() => toldPhones(b.id, 'decisionAck'), (p) => p.includes(r.managers[1].phone));
  expect((await history(b.id)).at(-1)).toMatchObject({ from: 'APPROVED', to: 'NO_SHOW', actor: 'manager' });
  expect((await b.handle.describe()).typedSearchAttributes.get(BookingStatusKey)).toBe('NO_SHOW');
  await sleepUntil(b.startsAt.getTime() + 2 * HOUR, -MIN);
  expect(await b.handle.result()).toBe('NO_SHOW');
  await recordHistory('visit-no-show', b.handle);
});

test("a guest's cancel racing a manager's approve: whichever comes first wins, and the row agrees", async () => {
  // Cancel first: the approve finds a cancelled booking and the manager is told.
  const cancelFirst = await claimed(30 * HOUR);
  await cancelFirst.handle.signal(cancelSignal, { actor: guestActor(cancelFirst), messageId: uniqueId('wamid') });
  await cancelFirst.handle.signal(approveSignal, { actor: manager(0), messageId: uniqueId('wamid') });
  await reaches(cancelFirst, 'CANCELLED');
  await eventually(() => toldCount(cancelFirst.id, 'alreadyDecided'), (n) => n === 1);
  expect((await history(cancelFirst.id)).map((h) => h.to)).toEqual(['DRAFT', 'PENDING', 'CANCELLED']);
  expect(await toldCount(cancelFirst.id, 'guestApproved')).toBe(0);

  // Approve first: the guest's cancel then cancels the approved booking.
  const approveFirst = await claimed(54 * HOUR);
  await approveFirst.handle.signal(approveSignal, { actor: manager(0), messageId: uniqueId('wamid') });
  await approveFirst.handle.signal(cancelSignal, { actor: guestActor(approveFirst), messageId: uniqueId('wamid') });
  await reaches(approveFirst, 'CANCELLED');
  expect((await history(approveFirst.id)).map((h) => h.to)).toEqual(['DRAFT', 'PENDING', 'APPROVED', 'CANCELLED']);

  // Sent together: one order or the other, never both halves of each.
  const together = await claimed(78 * HOUR);
  await Promise.all([
    together.handle.signal(cancelSignal, { actor: guestActor(together), messageId: uniqueId('wamid') }),
    together.handle.signal(approveSignal, { actor: manager(1), messageId: uniqueId('wamid') }),
  ]);
  await reaches(together, 'CANCELLED');
  const path = (await history(together.id)).map((h) => h.to);
  expect([
    ['DRAFT', 'PENDING', 'CANCELLED'],
    ['DRAFT', 'PENDING', 'APPROVED', 'CANCELLED'],
  ]).toContainEqual(path);
  expect((await rowOf(together.id)).status).toBe('CANCELLED');
  expect(await toldCount(together.id, 'guestApproved')).toBe(path.includes('APPROVED') ? 1 : 0);
});

test('outside the 24-hour window the reminder goes again as the WHATSAPP_REMINDER_TEMPLATE template; the sandbox can fire one now', async () => {
  const b = await approved(30 * HOUR);
  await b.handle.signal(fireReminderSignal);
  const [reminder] = await eventually(() => messages(b.id, 'guestReminder'), (m) => m.length === 1);
  expect(reminder.payload.type).toBe('interactive');

  // Meta accepted it, then refused it (131047): the status webhook becomes this signal.
  await b.handle.signal(deliveryFailedSignal, {
    providerMessageId: reminder.providerMessageId ?? 'wamid.refused',
    idempotencyKey: reminder.key,
    errorCode: OUTSIDE_WINDOW,
    purpose: 'guestReminder',
  });
  const [, template] = await eventually(() => messages(b.id, 'guestReminder'), (m) => m.length === 2);
  expect(template.key).toBe(`${reminder.key}:template`);
  expect(template.phone).toBe(b.guestPhone);
  expect(template.payload.type).toBe('template');
  expect(template.payload.template.name).toBe(config.WHATSAPP_REMINDER_TEMPLATE);
  expect(buttonIds(template.payload)).toEqual([actionId('confirmVisit', b.id), actionId('cancelBooking', b.id)]);
});

test("a manager's request shows the guest's record at this restaurant", async () => {
  const guest = testPhone();
  const outcomes = ['COMPLETED', 'NO_SHOW', 'CANCELLED'] as const;
  for (const [i, status] of outcomes.entries()) {
    const b = await newBooking((100 + 24 * i) * HOUR);
    await b.handle.signal(claimSignal, { phone: guest, name: 'Ana' });
    await reaches(b, 'PENDING');
    await finish(b);
    await t.db('bookings').where({ id: b.id }).update({ status });
    await t.db('booking_history').insert({ booking_id: b.id, from_status: 'APPROVED', to_status: status, actor_type: status === 'CANCELLED' ? 'guest' : 'manager' });
  }
  const next = await newBooking(200 * HOUR);
  await next.handle.signal(claimSignal, { phone: guest, name: 'Ana' });
  await reaches(next, 'PENDING');
  expect((await getBookingDetails(t.db, next.id))?.guestRecord).toEqual({ visits: 1, noShows: 1, cancellations: 1 });
  expect((await getBookingDetails(t.db, next.id))?.restaurant.phone).toBe(RESTAURANT_PHONE);
});

/**
 * The visit's admin routes (#10) end to end on the dev server: the real API, the real worker
 * and Postgres, as `npm start` wires them. Arrived / no-show are workflow Updates like
 * approve / reject / cancel; the restaurant's reminder and cutoff settings reach the workflow.
 */
import { transitionBooking } from '../db/bookingHistory';
import { upsertClient } from '../db/clients';
import type { RunningSystem } from '../runtime/system';
import { bookingHandle } from '../temporal/bookingClient';
import { ensureWorkflowOf } from '../temporal/draftBooking';
import { BookingStatusKey } from '../temporal/searchAttributes';
import { statusQuery } from '../workflows/definitions';
import type { TestDatabase } from './helpers/db';
import { createRestaurantFixture, eventually, insertDraftRow, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { expectMatchesOpenApi } from './helpers/openapi';
import { startTestSystem, type TestSystem } from './helpers/system';
import type { DevServerConnection } from './helpers/temporal';

const MIN = 60_000;
const DAY = 86_400_000;

let ts: TestSystem;
let t: TestDatabase;
let dev: DevServerConnection;
let system: RunningSystem;
let r: RestaurantFixture;

beforeAll(async () => {
  ts = await startTestSystem('visit-admin');
  ({ t, dev, system } = ts);
  r = await createRestaurantFixture(t.db);
});

afterAll(() => ts?.stop());

const call = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${system.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(path.startsWith('/admin-api') && { authorization: `Bearer ${ts.adminToken}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = { status: res.status, body: (await res.json()) as any };
  expectMatchesOpenApi({ ...answer, headers: { 'content-type': res.headers.get('content-type') ?? undefined } }, method, path);
  return answer;
};
const route = (bookingId: number, action: string) => `/admin-api/r/${r.restaurantId}/booking/${bookingId}/${action}`;

/**
 * An APPROVED booking starting at `startsAt`, its workflow started for the committed row as
 * the reconciler would: a booking whose start has passed cannot be made through the API.
 */
async function approvedBooking(startsAt: Date) {
  const row = await insertDraftRow(t.db, ts.config, r, { now: Date.now(), startsAt });
  const client = await upsertClient(t.db, { phone: testPhone(), name: 'Ana' });
  await transitionBooking(t.db, { bookingId: row.id, from: 'DRAFT', to: 'PENDING', actor: { type: 'guest', id: client.id }, clientId: client.id });
  await transitionBooking(t.db, { bookingId: row.id, from: 'PENDING', to: 'APPROVED', actor: { type: 'admin' }, decision: true });
  expect(await ensureWorkflowOf({ db: t.db, temporal: dev.client, config: ts.config }, row)).toBe('started');
  const handle = bookingHandle(dev.client, row.id);
  await eventually(() => handle.query(statusQuery), (s) => s.status === 'APPROVED');
  return { id: row.id, handle };
}

const historyOf = async (bookingId: number) => (await call('GET', `/admin-api/bookings/${bookingId}`)).body.history.map((h: any) => `${h.from}>${h.to}:${h.actorType}`);

test('POST .../arrived seats the guest of an APPROVED booking; a second answer is 409 not_allowed_in_status', async () => {
  const b = await approvedBooking(new Date(Date.now() + 2 * DAY));
  expect(await call('POST', route(b.id, 'arrived'), {})).toEqual({ status: 200, body: { status: 'SEATED' } });
  expect((await t.db('bookings').where({ id: b.id }).first()).status).toBe('SEATED');
  expect(await historyOf(b.id)).toEqual(['null>DRAFT:guest', 'DRAFT>PENDING:guest', 'PENDING>APPROVED:admin', 'APPROVED>SEATED:admin']);
  expect((await b.handle.describe()).typedSearchAttributes.get(BookingStatusKey)).toBe('SEATED');

  for (const action of ['arrived', 'no-show', 'cancel']) {
    const again = await call('POST', route(b.id, action), {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'not_allowed_in_status', details: { status: 'SEATED' } });
  }
  await b.handle.terminate('test over');
});

test('POST .../no-show is 409 before the start and records NO_SHOW after it', async () => {
  const later = await approvedBooking(new Date(Date.now() + 4 * DAY));
  const early = await call('POST', route(later.id, 'no-show'), {});
  expect(early.status).toBe(409);
  expect(early.body.error).toMatchObject({ code: 'not_allowed_in_status', details: { status: 'APPROVED' } });
  await later.handle.terminate('test over');

  const started = await approvedBooking(new Date(Date.now() - 5 * MIN));
  expect(await call('POST', route(started.id, 'no-show'), {})).toEqual({ status: 200, body: { status: 'NO_SHOW' } });
  expect(await historyOf(started.id)).toEqual(['null>DRAFT:guest', 'DRAFT>PENDING:guest', 'PENDING>APPROVED:admin', 'APPROVED>NO_SHOW:admin']);
  expect((await started.handle.describe()).typedSearchAttributes.get(BookingStatusKey)).toBe('NO_SHOW');
  const arrived = await call('POST', route(started.id, 'arrived'), {});
  expect(arrived.status).toBe(409);
  expect(arrived.body.error).toMatchObject({ code: 'not_allowed_in_status', details: { status: 'NO_SHOW' } });
  await started.handle.terminate('test over');
});

test('arrived / no-show validate the body and the path like the other decisions', async () => {
  const b = await approvedBooking(new Date(Date.now() + 6 * DAY));
  const extra = await call('POST', route(b.id, 'arrived'), { reason: 'x' });
  expect(extra.status).toBe(400);
  expect(extra.body.error.code).toBe('validation_failed');
  expect((await call('POST', `/admin-api/r/${r.restaurantId + 999}/booking/${b.id}/no-show`, {})).status).toBe(404);
  expect((await t.db('bookings').where({ id: b.id }).first()).status).toBe('APPROVED');
  await b.handle.terminate('test over');
});

describe("a restaurant's visit settings", () => {
  const patch = (body: object) => call('PATCH', `/admin-api/restaurants/${r.restaurantId}`, body);

  test('reminders (up to two, or none), the guest cancel cutoff and the phone are validated and shown in force', async () => {
    const set = await patch({ reminderMinutes: [120, 1440], guestCancelCutoffMinutes: 0, phone: '+7 727 200 00 00' });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ reminderMinutes: [1440, 120], guestCancelCutoffMinutes: 0, phone: '+77272000000' });
    expect(set.body.effective).toMatchObject({ reminderMinutes: [1440, 120], guestCancelCutoffMinutes: 0 });

    for (const bad of [{ reminderMinutes: [60, 120, 1440] }, { reminderMinutes: [120, 120] }, { reminderMinutes: [0] }, { guestCancelCutoffMinutes: -1 }, { phone: 'call us' }]) {
      const res = await patch(bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }

    const reset = await patch({ reminderMinutes: null, guestCancelCutoffMinutes: null, phone: null });
    expect(reset.body).toMatchObject({ reminderMinutes: null, guestCancelCutoffMinutes: null, phone: null });
    expect(reset.body.effective).toMatchObject({ reminderMinutes: [1440, 120], guestCancelCutoffMinutes: 120 });
  });

  test('a booking made after the change carries it to its workflow: no reminders when they are off', async () => {
    expect((await patch({ reminderMinutes: [] })).body.effective.reminderMinutes).toEqual([]);
    try {
      const created = await call('POST', '/api/bookings', { restaurantId: r.restaurantId, tableId: r.tableId, startsAt: new Date(Date.now() + 8 * DAY).toISOString(), partySize: 2 });
      expect(created.status).toBe(201);
      await call('POST', `/admin-api/booking/${created.body.id}/confirm`, { phone: testPhone() });
      expect(await call('POST', route(created.body.id, 'approve'), {})).toEqual({ status: 200, body: { status: 'APPROVED' } });
      const handle = bookingHandle(dev.client, created.body.id);
      const state = await eventually(() => handle.query(statusQuery), (s) => s.deadlines.reminders !== undefined);
      expect(state.deadlines.reminders).toEqual([]);
      await handle.terminate('test over');
    } finally {
      await patch({ reminderMinutes: null });
    }
  });
});

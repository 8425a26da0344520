/**
 * End to end on the dev server: the real API (HTTP), the real worker, real Postgres, wired
 * exactly as `npm start` wires them (runtime/system.ts).
 */
import type { RunningSystem } from '../runtime/system';
import { BookingStatusKey } from '../temporal/searchAttributes';
import { bookingHandle } from '../temporal/bookingClient';
import { approveSignal } from '../workflows/definitions';
import type { TestDatabase } from './helpers/db';
import { createDraft, createRestaurantFixture, eventually, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { recordHistory } from './helpers/histories';
import { expectMatchesOpenApi } from './helpers/openapi';
import { startTestSystem, type TestSystem } from './helpers/system';
import { uniqueId, type DevServerConnection } from './helpers/temporal';

let ts: TestSystem;
let t: TestDatabase;
let dev: DevServerConnection;
let system: RunningSystem;
let r: RestaurantFixture;

beforeAll(async () => {
  ts = await startTestSystem('e2e');
  ({ t, dev, system } = ts);
  r = await createRestaurantFixture(t.db);
});

afterAll(() => ts?.stop());

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${system.apiUrl}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(path.startsWith('/admin-api') && { authorization: `Bearer ${ts.adminToken}` }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = { status: res.status, body: (await res.json()) as any };
  expectMatchesOpenApi({ ...answer, headers: { 'content-type': res.headers.get('content-type') ?? undefined } }, method, path);
  return answer;
};

const inTwoDays = () => new Date(Date.now() + 2 * 86_400_000).toISOString();

test('website books, guest confirms, manager approves: DRAFT → PENDING → APPROVED', async () => {
  const created = await call('POST', '/api/bookings', {
    restaurantId: r.restaurantId,
    tableId: r.tableId,
    startsAt: inTwoDays(),
    partySize: 3,
    guestName: 'Ana',
    specialRequests: 'Window seat please',
    preorder: [{ menuItemId: r.menuItemId, quantity: 2 }],
    language: 'ru',
  });
  expect(created.status).toBe(201);
  const id = created.body.id as number;
  expect(created.body).toMatchObject({ status: 'DRAFT', claimText: expect.stringMatching(new RegExp(`^BOOKING:${id}-[a-z2-9]{10}$`)) });
  expect(created.body.whatsappUrl).toBe(`https://wa.me/15550001111?text=${encodeURIComponent(created.body.claimText)}`);

  const handle = bookingHandle(dev.client, id);
  const described = await handle.describe();
  expect(described.status.name).toBe('RUNNING');
  expect(described.typedSearchAttributes.get(BookingStatusKey)).toBe('DRAFT');
  // Started by the request that committed the row, the workflow does not read the row back.
  const firstTask = await eventually(
    async () => (await handle.fetchHistory()).events ?? [],
    (events) => events.some((e) => e.workflowTaskCompletedEventAttributes),
  );
  expect(firstTask.map((e) => e.markerRecordedEventAttributes?.markerName).filter(Boolean)).not.toContain('core_local_activity');

  const guest = testPhone();
  const confirmed = await call('POST', `/admin-api/booking/${id}/confirm`, { phone: guest, name: 'Ana K.' });
  expect(confirmed).toEqual({ status: 200, body: { status: 'PENDING' } });

  const manager = r.managers[0];
  const approved = await call('POST', `/admin-api/r/${r.restaurantId}/booking/${id}/approve`, { managerId: manager.userId });
  expect(approved).toEqual({ status: 200, body: { status: 'APPROVED' } });

  // The same decision again is refused with the status it is in.
  const again = await call('POST', `/admin-api/r/${r.restaurantId}/booking/${id}/reject`, {});
  expect(again.status).toBe(409);
  expect(again.body.error).toMatchObject({ code: 'not_allowed_in_status', details: { status: 'APPROVED' } });

  // The Update answers once the decision is stored; the guest's message follows beside it.
  const record = await eventually(
    () => call('GET', `/admin-api/bookings/${id}`),
    (res) => res.body.messages.length === 4,
  );
  expect(record.body.booking).toMatchObject({ id, status: 'APPROVED', partySize: 3, decidedByType: 'manager', decidedByUserId: manager.userId });
  expect(record.body.booking.claimCode).toBeUndefined();
  expect(record.body.guest).toMatchObject({ phone: guest, name: 'Ana K.' });
  expect(record.body.items).toEqual([expect.objectContaining({ menuItemId: r.menuItemId, quantity: 2 })]);
  expect(record.body.history.map((h: any) => [h.from, h.to, h.actorType, h.actorId])).toEqual([
    [null, 'DRAFT', 'guest', null],
    ['DRAFT', 'PENDING', 'guest', record.body.guest.id],
    ['PENDING', 'APPROVED', 'manager', manager.userId],
  ]);
  const purposes = (record.body.messages as { purpose: string }[]).map((m) => m.purpose).sort();
  // Approved from the back office: no WhatsApp acknowledgement, the HTTP answer is one.
  expect(purposes).toEqual(['guestApproved', 'guestWaiting', 'managerRequest', 'managerRequest']);

  const publicView = await call('GET', `/api/bookings/${id}`);
  expect(publicView.body).toEqual({
    id,
    status: 'APPROVED',
    restaurantId: r.restaurantId,
    tableId: r.tableId,
    startsAt: expect.any(String),
    partySize: 3,
  });

  expect((await handle.describe()).typedSearchAttributes.get(BookingStatusKey)).toBe('APPROVED');
  const found = await eventually(
    async () => {
      const ids: string[] = [];
      for await (const wf of dev.client.workflow.list({ query: `BookingStatus = 'APPROVED' AND WorkflowId = '${handle.workflowId}'` })) ids.push(wf.workflowId);
      return ids;
    },
    (ids) => ids.length === 1,
  );
  expect(found).toEqual([handle.workflowId]);

  await recordHistory('e2e-approved', handle);
});

test('cancel an approved booking through the admin API; a finished one refuses with 409', async () => {
  const { body } = await call('POST', '/api/bookings', { restaurantId: r.restaurantId, tableId: r.tableId, startsAt: new Date(Date.now() + 5 * 86_400_000).toISOString(), partySize: 2 });
  await call('POST', `/admin-api/booking/${body.id}/confirm`, { phone: testPhone() });
  const rejected = await call('POST', `/admin-api/r/${r.restaurantId}/booking/${body.id}/reject`, { reason: 'Private event' });
  expect(rejected.body).toEqual({ status: 'REJECTED' });
  const cancel = await call('POST', `/admin-api/r/${r.restaurantId}/booking/${body.id}/cancel`, {});
  expect(cancel.status).toBe(409);
  // Another restaurant's path never reaches this booking.
  const foreign = await call('POST', `/admin-api/r/${r.restaurantId + 999}/booking/${body.id}/approve`, {});
  expect(foreign.status).toBe(404);
  await recordHistory('e2e-rejected', bookingHandle(dev.client, body.id));
});

test('a WhatsApp approve queued just before an admin reject wins; the reject answers 409 not_allowed_in_status', async () => {
  const { body } = await call('POST', '/api/bookings', { restaurantId: r.restaurantId, tableId: r.tableId, startsAt: new Date(Date.now() + 7 * 86_400_000).toISOString(), partySize: 2 });
  expect(await call('POST', `/admin-api/booking/${body.id}/confirm`, { phone: testPhone() })).toEqual({ status: 200, body: { status: 'PENDING' } });
  const manager = r.managers[1];
  const handle = bookingHandle(dev.client, body.id);
  await handle.signal(approveSignal, { actor: { type: 'manager', id: manager.userId, name: manager.name, phone: manager.phone }, messageId: uniqueId('wamid') });
  const rejected = await call('POST', `/admin-api/r/${r.restaurantId}/booking/${body.id}/reject`, { reason: 'Private event' });
  expect(rejected.status).toBe(409);
  expect(rejected.body.error).toMatchObject({ code: 'not_allowed_in_status', details: { status: 'APPROVED' } });
  const record = await call('GET', `/admin-api/bookings/${body.id}`);
  expect(record.body.booking).toMatchObject({ status: 'APPROVED', decidedByType: 'manager', decidedByUserId: manager.userId });
  expect(record.body.history.map((h: any) => h.to)).toEqual(['DRAFT', 'PENDING', 'APPROVED']);
});

test('an admin cancels an APPROVED booking: 200 CANCELLED, and the guest is told', async () => {
  const { body } = await call('POST', '/api/bookings', { restaurantId: r.restaurantId, tableId: r.tableId, startsAt: new Date(Date.now() + 9 * 86_400_000).toISOString(), partySize: 2 });
  const guest = testPhone();
  await call('POST', `/admin-api/booking/${body.id}/confirm`, { phone: guest });
  expect(await call('POST', `/admin-api/r/${r.restaurantId}/booking/${body.id}/approve`, {})).toEqual({ status: 200, body: { status: 'APPROVED' } });
  const cancelled = await call('POST', `/admin-api/r/${r.restaurantId}/booking/${body.id}/cancel`, { reason: 'Kitchen closed' });
  expect(cancelled).toEqual({ status: 200, body: { status: 'CANCELLED' } });
  const record = await eventually(
    () => call('GET', `/admin-api/bookings/${body.id}`),
    (res) => res.body.messages.some((m: any) => m.purpose === 'guestCancelled'),
  );
  expect(record.body.booking.status).toBe('CANCELLED');
  expect(record.body.messages.filter((m: any) => m.purpose === 'guestCancelled').map((m: any) => m.phone)).toEqual([guest]);
  expect(record.body.history.at(-1)).toMatchObject({ from: 'APPROVED', to: 'CANCELLED', actorType: 'admin', reason: 'Kitchen closed' });
  await recordHistory('e2e-cancelled', bookingHandle(dev.client, body.id));
});

test('an admin decision while no worker runs the booking answers 503 unavailable within 5 s, not a hang', async () => {
  // Its workflow lives on a task queue nobody polls: Temporal is up, the workers are not.
  const row = await createDraft({ db: t.db, client: dev.client, config: ts.config, taskQueue: uniqueId('no-worker') }, r, {
    now: Date.now(),
    startsInMs: 11 * 86_400_000,
  });
  const started = Date.now();
  const res = await call('POST', `/admin-api/r/${r.restaurantId}/booking/${row.id}/approve`, {});
  expect(Date.now() - started).toBeLessThan(5_000);
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('unavailable');
  await bookingHandle(dev.client, row.id).terminate('test done');
});

test('a second booking of a held slot is refused; the same Idempotency-Key replays the first answer', async () => {
  const startsAt = new Date(Date.now() + 3 * 86_400_000).toISOString();
  const request = { restaurantId: r.restaurantId, tableId: r.tableId, startsAt, partySize: 2 };
  const key = uniqueId('idem');
  const first = await call('POST', '/api/bookings', request, { 'idempotency-key': key });
  const replay = await call('POST', '/api/bookings', request, { 'idempotency-key': key });
  expect(replay).toEqual(first);
  const otherBody = await call('POST', '/api/bookings', { ...request, partySize: 3 }, { 'idempotency-key': key });
  expect(otherBody.status).toBe(409);

  await call('POST', `/admin-api/booking/${first.body.id}/confirm`, { phone: testPhone() });
  const overlapping = await call('POST', '/api/bookings', { ...request, startsAt: new Date(Date.parse(startsAt) + 3_600_000).toISOString() });
  expect(overlapping.status).toBe(409);
  expect(overlapping.body.error.details).toEqual({ reason: 'slot_taken' });
});

test('bad requests get clear 4xx answers in the one error shape', async () => {
  const base = { restaurantId: r.restaurantId, tableId: r.tableId, startsAt: inTwoDays(), partySize: 2 };
  const cases: [unknown, number, string][] = [
    [{ ...base, restaurantId: 999999 }, 404, 'not_found'],
    [{ ...base, tableId: 999999 }, 404, 'not_found'],
    [{ ...base, startsAt: '2030-01-01T19:00:00' }, 400, 'startsAt'],
    [{ ...base, startsAt: '2001-01-01T19:00:00Z' }, 400, 'startsAt'],
    [{ ...base, partySize: 0 }, 400, 'partySize'],
    [{ ...base, partySize: 5 }, 400, 'partySize'],
    [{ ...base, specialRequests: 'x'.repeat(501) }, 400, 'specialRequests'],
    [{ ...base, preorder: [{ menuItemId: r.menuItemId, quantity: 51 }] }, 400, 'preorder.0.quantity'],
    [{ ...base, preorder: [{ menuItemId: 999999, quantity: 1 }] }, 400, 'preorder.0.menuItemId'],
  ];
  for (const [body, status, what] of cases) {
    const res = await call('POST', '/api/bookings', body);
    expect({ what, status: res.status }).toEqual({ what, status });
    if (status === 400) expect(res.body.error.details.map((d: any) => d.path)).toContain(what);
    else expect(res.body.error.code).toBe(what);
  }
});

test('the admin listing pages through a restaurant\'s bookings by start time, filtered by status', async () => {
  const day = 86_400_000;
  const base = Date.now() + 40 * day; // after every other booking of this file
  const ids: number[] = [];
  for (const offset of [2, 0, 1]) {
    const { body } = await call('POST', '/api/bookings', { restaurantId: r.restaurantId, tableId: r.tableId, startsAt: new Date(base + offset * day).toISOString(), partySize: 2 });
    ids[offset] = body.id;
  }
  await call('POST', `/admin-api/booking/${ids[1]}/confirm`, { phone: testPhone() });
  const from = new Date(base - 1000).toISOString();

  const first = await call('GET', `/admin-api/r/${r.restaurantId}/bookings?from=${encodeURIComponent(from)}&limit=2`);
  expect(first.body.items.map((b: any) => b.id)).toEqual([ids[0], ids[1]]);
  expect(first.body.items[0].claimCode).toBeUndefined();
  const second = await call('GET', `/admin-api/r/${r.restaurantId}/bookings?from=${encodeURIComponent(from)}&limit=2&cursor=${first.body.nextCursor}`);
  expect(second.body).toEqual({ items: [expect.objectContaining({ id: ids[2] })], nextCursor: null });

  const pending = await call('GET', `/admin-api/r/${r.restaurantId}/bookings?status=PENDING&from=${encodeURIComponent(from)}`);
  expect(pending.body.items.map((b: any) => b.id)).toEqual([ids[1]]);
  expect((await call('GET', `/admin-api/r/${r.restaurantId}/bookings?cursor=nonsense`)).status).toBe(400);
  expect((await call('GET', `/admin-api/r/${r.restaurantId}/bookings?status=LOST`)).status).toBe(400);
});

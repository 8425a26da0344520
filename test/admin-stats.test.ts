import type { Express } from 'express';
import type { Response } from 'supertest';
import { request } from './helpers/openapi';
import { BOOKING_STATUSES, canTransition, type BookingStatus } from '../domain/booking';
import { maskPhone } from '../domain/phone';
import { createTestApp, expectError, TEST_ADMIN_TOKEN } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createRestaurantFixture, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { insertBookingWithHistory, insertMessage, seededRandom, type SeededBooking, type SeededMessage } from './helpers/statsRows';

/**
 * GET /admin-api/stats and GET /admin-api/messages against rows written straight to a real
 * Postgres; every expected figure is computed here from the rows the test wrote, never by
 * the code under test.
 */

let t: TestDatabase;
let app: Express;
let home: RestaurantFixture;
let other: RestaurantFixture;
const bookings: SeededBooking[] = [];
const messages: SeededMessage[] = [];

const MIN = 60_000;
const REMINDER_MIN = 10;
const ESCALATE_MIN = 20;
const WINDOW = { from: new Date('2030-03-01T00:00:00Z'), to: new Date('2030-04-01T00:00:00Z') };
const has = (s: string) => (BOOKING_STATUSES as readonly string[]).includes(s);

/** Every life a booking can have, as far as domain/booking.ts allows: one more status, one more path. */
function lives(): BookingStatus[][] {
  const paths: BookingStatus[][] = [];
  const walk = (path: BookingStatus[]) => {
    paths.push(path);
    for (const next of BOOKING_STATUSES) if (canTransition(path[path.length - 1], next)) walk([...path, next]);
  };
  walk(['DRAFT']);
  return paths;
}

const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const get = (path: string, query: Record<string, string | number> = {}) => request(app).get(`/admin-api${path}`).query(query).set(auth);

/** percentile_cont's definition: linear interpolation between the closest ranks. */
function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (rank - lo);
}

beforeAll(async () => {
  t = await createTestDatabase();
  app = createTestApp({ db: t.db });
  home = await createRestaurantFixture(t.db);
  other = await createRestaurantFixture(t.db);
  await t.db('restaurants').whereIn('id', [home.restaurantId, other.restaurantId]).update({
    decision_reminder_minutes: REMINDER_MIN,
    escalate_minutes: ESCALATE_MIN,
  });

  const random = seededRandom(11);
  const paths = lives();
  const guestPhones = [testPhone(), testPhone(), testPhone()];
  const purposes = ['managerRequest', 'managerReminder', 'guestApproved'];
  const statuses = ['sent', 'delivered', 'read', 'failed'];
  for (let i = 0; i < 120; i++) {
    const f = i % 5 === 4 ? other : home;
    // Some before and some after the window, most inside it.
    const offsetDays = -5 + random() * 40;
    const createdAt = new Date(WINDOW.from.getTime() + Math.round(offsetDays * 24 * 60 * MIN));
    const path = paths[i % paths.length];
    let at = 0;
    const steps = path.map((status, n) => {
      if (n > 0) at += Math.round(random() * 30 * MIN) + 1_000; // decisions spread over 0-30 minutes
      return { status, afterMs: at };
    });
    const b = await insertBookingWithHistory(t.db, { restaurantId: f.restaurantId, tableId: f.tableId, createdAt, path: steps });
    bookings.push(b);
    for (let k = Math.floor(random() * 4); k > 0; k--) {
      const status = statuses[Math.floor(random() * statuses.length)];
      messages.push(
        await insertMessage(t.db, {
          bookingId: b.id,
          direction: 'out',
          purpose: purposes[Math.floor(random() * purposes.length)],
          phone: f.managers[k % 2].phone,
          status,
          template: random() < 0.3,
          errorCode: status === 'failed' ? [131026, 131047][Math.floor(random() * 2)] : null,
        }),
      );
    }
    if (random() < 0.5) {
      const phone = guestPhones[i % guestPhones.length];
      messages.push(await insertMessage(t.db, { bookingId: b.id, direction: 'in', purpose: 'text', phone, status: 'received', template: false, errorCode: null }));
    }
  }
  // A message about no booking (someone wrote to us): only the admin sees it.
  messages.push(
    await insertMessage(t.db, { bookingId: null, direction: 'in', purpose: 'text', phone: testPhone(), status: 'received', template: false, errorCode: null }),
  );
});
afterAll(() => t.drop());

describe('GET /admin-api/stats', () => {
  test('every figure matches what the seeded rows say', async () => {
    const res = await get('/stats', { restaurantId: home.restaurantId, from: WINDOW.from.toISOString(), to: WINDOW.to.toISOString() });
    expect(res.status).toBe(200);

    const inScope = bookings.filter((b) => b.restaurantId === home.restaurantId && b.createdAt >= WINDOW.from && b.createdAt < WINDOW.to);
    expect(inScope.length).toBeGreaterThan(40); // the test means something only with enough rows
    const reached = (b: SeededBooking, s: BookingStatus) => b.path.some((p) => p.status === s);
    const leftPending = (b: SeededBooking) => {
      const i = b.path.findIndex((p) => p.status === 'PENDING');
      return i >= 0 && i + 1 < b.path.length ? { to: b.path[i + 1].status, ms: b.path[i + 1].afterMs - b.path[i].afterMs } : undefined;
    };
    const claimed = inScope.filter((b) => reached(b, 'PENDING'));
    const resolved = claimed.filter((b) => leftPending(b));
    const approved = claimed.filter((b) => reached(b, 'APPROVED'));
    const decisions = resolved.map((b) => leftPending(b)!).filter((l) => l.to === 'APPROVED' || l.to === 'REJECTED');
    const seconds = decisions.map((d) => d.ms / 1000);
    const before = decisions.filter((d) => d.ms < REMINDER_MIN * MIN).length;
    const after = decisions.filter((d) => d.ms >= ESCALATE_MIN * MIN).length;
    const expired = resolved.filter((b) => leftPending(b)!.to === 'EXPIRED').length;
    const byStatus = Object.fromEntries(BOOKING_STATUSES.map((s) => [s, inScope.filter((b) => b.status === s).length]));
    expect(before).toBeGreaterThan(0);
    expect(after).toBeGreaterThan(0);
    expect(expired).toBeGreaterThan(0);

    const body = res.body;
    expect(body.restaurantId).toBe(home.restaurantId);
    expect(body.from).toBe(WINDOW.from.toISOString());
    expect(body.to).toBe(WINDOW.to.toISOString());
    expect(body.bookings).toEqual({
      total: inScope.length,
      byStatus,
      claimed: claimed.length,
      resolved: resolved.length,
      approved: approved.length,
      confirmationRate: approved.length / resolved.length,
      ...(has('CANCELLED') && { cancellations: byStatus.CANCELLED }),
      ...(has('NO_SHOW') && { noShows: byStatus.NO_SHOW }),
    });
    expect(body.decisions.count).toBe(decisions.length);
    expect(body.decisions.secondsToDecision.p50).toBeCloseTo(percentile(seconds, 0.5)!, 6);
    expect(body.decisions.secondsToDecision.p90).toBeCloseTo(percentile(seconds, 0.9)!, 6);
    expect(body.decisions.beforeReminder).toEqual({ count: before, share: before / resolved.length });
    expect(body.decisions.afterEscalation).toEqual({ count: after, share: after / resolved.length });
    expect(body.decisions.expired).toEqual({ count: expired, share: expired / resolved.length });

    const ids = new Set(inScope.map((b) => b.id));
    const scoped = messages.filter((m) => m.bookingId !== null && ids.has(m.bookingId));
    const groups = new Map<string, { direction: string; purpose: string; statuses: Record<string, number>; total: number; template: number }>();
    for (const m of scoped) {
      const key = `${m.direction}:${m.purpose}`;
      const g = groups.get(key) ?? { direction: m.direction, purpose: m.purpose, statuses: {}, total: 0, template: 0 };
      g.statuses[m.status] = (g.statuses[m.status] ?? 0) + 1;
      g.total++;
      if (m.template) g.template++;
      groups.set(key, g);
    }
    expect(body.messages.byPurpose).toEqual(
      [...groups.values()].sort((a, b) => a.direction.localeCompare(b.direction) || a.purpose.localeCompare(b.purpose)),
    );
    const failures = new Map<string, { purpose: string; errorCode: number | null; count: number }>();
    for (const m of scoped.filter((m) => m.status === 'failed')) {
      const key = `${m.purpose}:${m.errorCode}`;
      failures.set(key, { purpose: m.purpose, errorCode: m.errorCode, count: (failures.get(key)?.count ?? 0) + 1 });
    }
    expect(body.messages.failures).toHaveLength(failures.size);
    expect(new Set(body.messages.failures.map((f: object) => JSON.stringify(f)))).toEqual(
      new Set([...failures.values()].map((f) => JSON.stringify(f))),
    );
  });

  test('an empty window answers zeros and nulls, not errors', async () => {
    const res = await get('/stats', { restaurantId: home.restaurantId, from: '2020-01-01T00:00:00Z', to: '2020-02-01T00:00:00Z' });
    expect(res.status).toBe(200);
    expect(res.body.bookings.total).toBe(0);
    expect(res.body.bookings.confirmationRate).toBeNull();
    expect(res.body.decisions.secondsToDecision).toEqual({ p50: null, p90: null });
    expect(res.body.decisions.expired).toEqual({ count: 0, share: null });
    expect(res.body.messages).toEqual({ byPurpose: [], failures: [] });
  });

  test('a manager sees their restaurant; another restaurant is 403 forbidden; an unknown one is 404 for the admin', async () => {
    const window = { from: WINDOW.from.toISOString(), to: WINDOW.to.toISOString() };
    const own = await get('/stats', { restaurantId: home.restaurantId, managerId: home.managers[0].userId, ...window });
    expect(own.status).toBe(200);
    const asAdmin = await get('/stats', { restaurantId: home.restaurantId, ...window });
    expect(own.body).toEqual(asAdmin.body);
    const owner = await get('/stats', { restaurantId: other.restaurantId, managerId: other.owner.userId, ...window });
    expect(owner.status).toBe(200);

    const foreign = await get('/stats', { restaurantId: other.restaurantId, managerId: home.managers[0].userId, ...window });
    expectError(foreign, 403, 'forbidden');
    expect(foreign.body.error.details).toEqual({ restaurantId: other.restaurantId });
    expectError(await get('/stats', { restaurantId: 999_999, managerId: home.managers[0].userId }), 403, 'forbidden');
    expectError(await get('/stats', { restaurantId: 999_999 }), 404, 'not_found');
  });

  test('the default window is the last 30 days', async () => {
    const res = await get('/stats', { restaurantId: home.restaurantId });
    expect(res.status).toBe(200);
    expect(new Date(res.body.to).getTime() - new Date(res.body.from).getTime()).toBe(30 * 24 * 60 * MIN);
    expect(Math.abs(new Date(res.body.to).getTime() - Date.now())).toBeLessThan(60_000);
  });

  test.each([
    [{}, 'restaurantId'],
    [{ restaurantId: 'abc' }, 'restaurantId'],
    [{ restaurantId: 0 }, 'restaurantId'],
    [{ restaurantId: 1, from: 'yesterday' }, 'from'],
    [{ restaurantId: 1, from: '2030-02-01T00:00:00Z', to: '2030-01-01T00:00:00Z' }, 'from'],
    [{ restaurantId: 1, from: '2028-01-01T00:00:00Z', to: '2030-01-01T00:00:00Z' }, 'from'],
    [{ restaurantId: 1, managerId: 'x' }, 'managerId'],
    [{ restaurantId: 1, status: 'PENDING' }, 'status'],
  ])('bad query %j is 400 validation_failed naming %s', async (query, field) => {
    const res = await get('/stats', query as Record<string, string | number>);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'query', path: field })]));
  });

  test('without the admin token: 401', async () => {
    expectError(await request(app).get('/admin-api/stats').query({ restaurantId: home.restaurantId }), 401, 'unauthorized');
  });
});

describe('GET /admin-api/messages', () => {
  /** Every page, following nextCursor. */
  async function all(query: Record<string, string | number>) {
    const items: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const res: Response = await get('/messages', { ...query, limit: 7, ...(cursor && { cursor }) });
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(7);
      items.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (!cursor) return items;
    }
    throw new Error('more than 100 pages');
  }
  const idsOf = (rows: { id: number }[]) => rows.map((r) => r.id);
  const newestFirst = (rows: SeededMessage[]) => idsOf(rows).sort((a, b) => b - a);

  test('the admin pages through every message, newest first, with full phones and payloads', async () => {
    const items = await all({});
    expect(idsOf(items as { id: number }[])).toEqual(newestFirst(messages));
    const byId = new Map(messages.map((m) => [m.id, m]));
    for (const item of items) {
      const m = byId.get(item.id as number)!;
      expect(item).toMatchObject({ phone: m.phone, direction: m.direction, purpose: m.purpose, status: m.status, bookingId: m.bookingId, errorCode: m.errorCode });
      expect(item.payload).toBeDefined();
      expect(item.type).toBe(m.direction === 'in' ? m.purpose : m.template ? 'template' : 'text');
    }
  });

  test('each filter, alone and together, returns exactly the matching messages', async () => {
    const booking = messages.find((m) => m.bookingId !== null && messages.filter((n) => n.bookingId === m.bookingId).length > 1)!;
    const phone = home.managers[1].phone;
    const cases: [Record<string, string | number>, (m: SeededMessage) => boolean][] = [
      [{ bookingId: booking.bookingId! }, (m) => m.bookingId === booking.bookingId],
      [{ phone }, (m) => m.phone === phone],
      // The phone as a person types it finds the same messages.
      [{ phone: phone.replace(/^\+7(\d{3})(\d{3})(\d{4})$/, '+7 ($1) $2-$3') }, (m) => m.phone === phone],
      [{ restaurantId: other.restaurantId }, (m) => bookings.some((b) => b.id === m.bookingId && b.restaurantId === other.restaurantId)],
      [{ direction: 'in' }, (m) => m.direction === 'in'],
      [{ status: 'failed' }, (m) => m.status === 'failed'],
      [{ purpose: 'managerReminder' }, (m) => m.purpose === 'managerReminder'],
      [{ direction: 'out', status: 'read', purpose: 'guestApproved' }, (m) => m.direction === 'out' && m.status === 'read' && m.purpose === 'guestApproved'],
    ];
    for (const [query, match] of cases) {
      const expected = newestFirst(messages.filter(match));
      expect(expected.length).toBeGreaterThan(0);
      expect(idsOf((await all(query)) as { id: number }[])).toEqual(expected);
    }
  });

  test("a manager sees only their restaurants' messages, phones masked, no payloads", async () => {
    const mine = new Set(bookings.filter((b) => b.restaurantId === home.restaurantId).map((b) => b.id));
    const expected = messages.filter((m) => m.bookingId !== null && mine.has(m.bookingId));
    const items = await all({ managerId: home.managers[0].userId });
    expect(idsOf(items as { id: number }[])).toEqual(newestFirst(expected));
    const byId = new Map(expected.map((m) => [m.id, m]));
    for (const item of items) {
      expect(item.phone).toBe(maskPhone(byId.get(item.id as number)!.phone));
      expect(item.phone).toMatch(/^\+7\*+\d{2}$/);
      expect(item).not.toHaveProperty('payload');
    }
    // Another restaurant's booking is simply not in a manager's log.
    const foreign = messages.find((m) => m.bookingId !== null && !mine.has(m.bookingId))!;
    const res = await get('/messages', { managerId: home.managers[0].userId, bookingId: foreign.bookingId! });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], nextCursor: null });
    // Their own restaurant by name is fine; another one is refused, as in the statistics.
    expect(idsOf((await all({ managerId: home.managers[0].userId, restaurantId: home.restaurantId })) as { id: number }[])).toEqual(newestFirst(expected));
    const refused = await get('/messages', { managerId: home.managers[0].userId, restaurantId: other.restaurantId });
    expectError(refused, 403, 'forbidden');
  });

  test.each([
    [{ limit: 0 }, 'limit'],
    [{ limit: 101 }, 'limit'],
    [{ direction: 'sideways' }, 'direction'],
    [{ phone: 'call me' }, 'phone'],
    [{ bookingId: -1 }, 'bookingId'],
    [{ bookingId: 3_000_000_000 }, 'bookingId'],
    [{ status: "failed' or 1=1" }, 'status'],
    [{ purpose: 'x'.repeat(65) }, 'purpose'],
    [{ cursor: 'not-a-cursor' }, 'cursor'],
    [{ cursor: Buffer.from('0').toString('base64url') }, 'cursor'],
    [{ restaurantId: 'x' }, 'restaurantId'],
    [{ restaurantId: 1, from: '2030-01-01T00:00:00Z' }, 'from'],
  ])('bad query %j is 400 validation_failed naming %s', async (query, field) => {
    const res = await get('/messages', query as Record<string, string | number>);
    expectError(res, 400, 'validation_failed');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'query', path: field })]));
  });
});

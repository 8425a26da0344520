/**
 * GET /api/bookings/:id/events: the live status stream, on a real database with a real
 * LISTEN connection. Status changes are made the way the workflow's activity makes them
 * (transitionBooking); the browser test drives the same stream through the whole system.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { bookingEventsHandler } from '../api/routes/bookingEvents';
import { listenForStatusChanges, type BookingStatusFeed } from '../db/bookingEvents';
import { insertDraftBooking } from '../db/bookings';
import { transitionBooking } from '../db/bookingHistory';
import type { BookingStatus } from '../domain/booking';
import { claimCode, newClaimSecret } from '../domain/claim';
import { createLogger } from '../observability/logger';
import { createTestApp } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createRestaurantFixture, eventually, type RestaurantFixture } from './helpers/fixtures';

let t: TestDatabase;
let feed: BookingStatusFeed;
let r: RestaurantFixture;
const servers: http.Server[] = [];
let base: string;

async function listen(app: express.Express): Promise<string> {
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await createTestDatabase();
  r = await createRestaurantFixture(t.db);
  feed = await listenForStatusChanges({ databaseUrl: t.url, logger: createLogger('silent') });
  base = await listen(createTestApp({ db: t.db, bookingEvents: feed }));
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  await feed?.close();
  await t?.drop();
});

let slot = 0;
async function newBooking(): Promise<number> {
  // A day apart each, so the table's slots never overlap.
  const startsAt = new Date(Date.now() + (2 + slot++) * 86_400_000);
  const row = await t.db.transaction((trx) =>
    insertDraftBooking(trx, {
      restaurantId: r.restaurantId,
      tableId: r.tableId,
      startsAt,
      endsAt: new Date(startsAt.getTime() + 7_200_000),
      partySize: 2,
      claimSecret: (id) => claimCode(id, newClaimSecret(randomBytes)),
      claimExpiresAt: new Date(Date.now() + 1_800_000),
      workflowIdFor: (id) => `events-test-${id}`,
      items: [],
    }),
  );
  return row.id;
}

async function move(bookingId: number, from: BookingStatus, to: BookingStatus) {
  const result = await transitionBooking(t.db, { bookingId, from, to, actor: { type: 'system' } });
  expect(result).toEqual({ applied: true, status: to });
}

interface StatusEvent {
  event: string;
  data: { id: number; status: BookingStatus; final: boolean };
}

/** A minimal EventSource: frames in order, heartbeats counted, `undefined` once the server ends. */
async function subscribe(url: string) {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let heartbeats = 0;
  const frame = async (): Promise<string | undefined> => {
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const f = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        return f;
      }
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += value;
    }
  };
  const next = async (): Promise<StatusEvent | undefined> => {
    for (;;) {
      const f = await frame();
      if (f === undefined) return undefined;
      if (f.startsWith(':')) {
        heartbeats++;
        continue;
      }
      const field = (name: string) => f.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      return { event: field('event')!, data: JSON.parse(field('data')!) };
    }
  };
  return {
    res,
    heartbeats: () => heartbeats,
    /** The next event, or undefined when the stream has ended; fails after 5 s rather than at the test timeout. */
    next: () =>
      Promise.race([
        next(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event within 5 s')), 5_000).unref()),
      ]),
    close: () => controller.abort(),
  };
}

const statusOf = (e: StatusEvent | undefined) => e && `${e.event} ${e.data.status}${e.data.final ? ' (final)' : ''}`;

test('a client receives DRAFT, PENDING, APPROVED in order; the stream stays open after APPROVED', async () => {
  const id = await newBooking();
  const stream = await subscribe(`${base}/api/bookings/${id}/events`);
  expect(stream.res.status).toBe(200);
  expect(stream.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  expect(stream.res.headers.get('access-control-allow-origin')).toBe('*');

  expect(await stream.next()).toEqual({ event: 'status', data: { id, status: 'DRAFT', final: false } });
  await move(id, 'DRAFT', 'PENDING');
  expect(statusOf(await stream.next())).toBe('status PENDING');
  await move(id, 'PENDING', 'APPROVED');
  expect(statusOf(await stream.next())).toBe('status APPROVED');

  // APPROVED can still become CANCELLED, which ends the stream.
  await move(id, 'APPROVED', 'CANCELLED');
  expect(statusOf(await stream.next())).toBe('status CANCELLED (final)');
  expect(await stream.next()).toBeUndefined();
  await eventually(async () => feed.subscriberCount(), (n) => n === 0);
});

test('a stream for a finished booking sends its status and ends at once', async () => {
  const id = await newBooking();
  await move(id, 'DRAFT', 'PENDING');
  await move(id, 'PENDING', 'REJECTED');
  const stream = await subscribe(`${base}/api/bookings/${id}/events`);
  expect(statusOf(await stream.next())).toBe('status REJECTED (final)');
  expect(await stream.next()).toBeUndefined();
  await eventually(async () => feed.subscriberCount(), (n) => n === 0);
});

test('an unknown booking is a 404 in the API error shape', async () => {
  const res = await fetch(`${base}/api/bookings/99999999/events`);
  expect(res.status).toBe(404);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  expect(feed.subscriberCount()).toBe(0);
});

test('a client that goes away leaves no subscription behind', async () => {
  const id = await newBooking();
  const streams = await Promise.all([1, 2, 3].map(() => subscribe(`${base}/api/bookings/${id}/events`)));
  for (const s of streams) expect(statusOf(await s.next())).toBe('status DRAFT');
  expect(feed.subscriberCount()).toBe(3);
  streams.forEach((s) => s.close());
  await eventually(async () => feed.subscriberCount(), (n) => n === 0);
});

test('a change made while the listening connection was down still arrives', async () => {
  const id = await newBooking();
  const stream = await subscribe(`${base}/api/bookings/${id}/events`);
  expect(statusOf(await stream.next())).toBe('status DRAFT');
  const killed = await t.db.raw(
    "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'LISTEN%'",
  );
  expect(killed.rows).toHaveLength(1);
  await move(id, 'DRAFT', 'PENDING');
  // Sent once the feed is back: re-read, not replayed.
  expect(statusOf(await stream.next())).toBe('status PENDING');
  await move(id, 'PENDING', 'APPROVED');
  expect(statusOf(await stream.next())).toBe('status APPROVED');
  stream.close();
});

test('heartbeat comments keep a quiet stream alive', async () => {
  const app = express().get('/bookings/:id/events', bookingEventsHandler({ db: t.db, feed, heartbeatMs: 50 }));
  const url = await listen(app);
  const id = await newBooking();
  const stream = await subscribe(`${url}/bookings/${id}/events`);
  expect(statusOf(await stream.next())).toBe('status DRAFT');
  await new Promise((resolve) => setTimeout(resolve, 300));
  await move(id, 'DRAFT', 'EXPIRED');
  expect(statusOf(await stream.next())).toBe('status EXPIRED (final)');
  expect(stream.heartbeats()).toBeGreaterThanOrEqual(3);
});

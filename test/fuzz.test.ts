/**
 * Property-based fuzzing of every API edge over real HTTP, real Postgres and the real dev
 * server: whatever a client sends, the answer is never a 5xx (nothing is down here), and
 * every 4xx has the one error shape. Seeded, so a failure replays; fast-check prints the
 * smallest request that broke it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { loadConfig } from '../config';
import { createWhatsAppWebhookRouter, WHATSAPP_WEBHOOK_PATH, type WhatsAppWebhookRouter } from '../api/routes/whatsappWebhook';
import { createLogger } from '../observability/logger';
import { bookingHandle } from '../temporal/bookingClient';
import { createOutboxChannel } from '../whatsapp/channel';
import { sign } from '../whatsapp/signature';
import { createTestApp, TEST_ADMIN_TOKEN } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createRestaurantFixture, type RestaurantFixture } from './helpers/fixtures';
import { connectDevServer, uniqueId, type DevServerConnection } from './helpers/temporal';

const SEED = 20261129;
const APP_SECRET = 'fuzz-app-secret';
const PHONE_NUMBER_ID = '123456789012345';
const ERROR_CODES = [
  'validation_failed',
  'invalid_json',
  'bad_request',
  'unauthorized',
  'not_found',
  'conflict',
  'not_allowed_in_status',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
];

let t: TestDatabase;
let dev: DevServerConnection;
let f: RestaurantFixture;
let webhook: WhatsAppWebhookRouter;
let server: http.Server;
let baseUrl: string;
/** A booking whose workflow has ended: decisions on it are answered at once (409), never hang on a worker. */
let closedBookingId: number;

beforeAll(async () => {
  [t, dev] = await Promise.all([createTestDatabase(), connectDevServer()]);
  f = await createRestaurantFixture(t.db);
  const config = loadConfig({
    NODE_ENV: 'test',
    // Nothing polls it: workflows of valid bookings only have to start.
    TEMPORAL_TASK_QUEUE: uniqueId('fuzz'),
    BOOKINGS_RATE_LIMIT_PER_MINUTE: '1000000',
    WHATSAPP_APP_SECRET: APP_SECRET,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_VERIFY_TOKEN: 'fuzz-verify-token',
  });
  const logger = createLogger('silent');
  // The inbox is never started: deliveries are stored, and acting on them is not under test here.
  webhook = createWhatsAppWebhookRouter({ config, db: t.db, temporal: dev.client, logger, channel: createOutboxChannel({ db: t.db }) });
  const app = createTestApp({ db: t.db, config, temporal: dev.client, logger, webhook });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const created = await send('POST', '/api/bookings', {
    json: { restaurantId: f.restaurantId, tableId: f.tableId, startsAt: new Date(Date.now() + 86_400_000).toISOString(), partySize: 2 },
  });
  expect(created.status).toBe(201);
  closedBookingId = JSON.parse(created.text).id;
  await bookingHandle(dev.client, closedBookingId).terminate('fuzz: decisions must not wait for a worker');
});

afterAll(async () => {
  await webhook?.inbox.stop();
  await new Promise<void>((resolve) => {
    server?.close(() => resolve());
    server?.closeAllConnections();
  });
  const ids: number[] = await t.db('bookings').pluck('id');
  await Promise.all(ids.map((id) => bookingHandle(dev.client, id).terminate('fuzz over').catch(() => undefined)));
  await dev.close();
  await t.drop();
});

interface Sent {
  status: number;
  text: string;
  contentType: string;
}

async function send(method: string, path: string, body: { json?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Sent> {
  const payload = body.raw ?? (body.json === undefined ? undefined : JSON.stringify(body.json));
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(path.startsWith('/admin-api') && { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }),
      ...(payload !== undefined && { 'content-type': 'application/json' }),
      ...body.headers,
    },
    body: payload,
  });
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

/** The property every answer must have. */
function expectWellFormed(res: Sent, request: string): void {
  if (res.status >= 500) throw new Error(`${request} answered ${res.status}: ${res.text}`);
  if (res.status < 400) return;
  if (!res.contentType.startsWith('application/json')) throw new Error(`${request}: ${res.status} is not JSON: ${res.text}`);
  const body = JSON.parse(res.text);
  const ok =
    Object.keys(body).join() === 'error' &&
    ERROR_CODES.includes(body.error.code) &&
    typeof body.error.message === 'string' &&
    Object.keys(body.error).every((k) => ['code', 'message', 'details'].includes(k));
  if (!ok) throw new Error(`${request}: ${res.status} not in the one error shape: ${res.text}`);
}

// ---- generators -------------------------------------------------------------------------

/** UTF-16 code units one by one, so lone surrogates come up as often as anything else. */
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\ud83d', '😀', '\u202e', "'; drop table bookings; --", '%00', 'x'.repeat(600)),
  utf16,
  fc.string({ unit: 'binary', maxLength: 30 }),
);
/** Text a client may well send, odd characters included. */
const text = fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), nastyString);
const nastyNumber = fc.oneof(
  fc.constantFrom(0, -1, 1.5, 2 ** 31, 2 ** 31 - 1, 2 ** 53 + 2, 1e308, -1e308, Number.MIN_VALUE),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const nastyDate = fc.oneof(
  fc.constantFrom(
    '9999-12-31T23:59:59+00:00',
    '0000-01-01T00:00:00Z',
    '2030-02-31T10:00:00+05:00',
    '+275760-09-13T00:00:00.000Z',
    '2030-01-01T10:00:00',
    '1969-12-31T23:59:59Z',
    '2030-01-01T25:61:00Z',
    'tomorrow',
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.integer({ min: 1, max: 300 }).map((days) => new Date(Date.now() + days * 86_400_000).toISOString()),
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString,
  nastyNumber,
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(nastyString, { maxLength: 25 }),
);
/** Mostly a good value, so that whole requests get past validation often enough to reach the database and Temporal. */
const maybe = <T>(good: fc.Arbitrary<T>, weight = 7) => fc.oneof({ weight, arbitrary: good }, { weight: 1, arbitrary: anyValue });

/** Bodies that JSON.stringify cannot produce: numbers past double range, deep nesting, broken text. */
const rawBodies = fc.constantFrom(
  '{"restaurantId": 1e400, "tableId": -1e400}',
  '{"partySize": 123456789012345678901234567890}',
  '[' .repeat(5000) + ']'.repeat(5000),
  '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
  '{"guestName": "\\u0000"}',
  '{"guestName": "\\ud800"}',
  '{"name": "\\udc00x", "timezone": "UTC"}',
  '{"__proto__": {"admin": true}}',
  '{"constructor": {"prototype": {}}}',
  '',
  'null',
  '"just a string"',
  '{',
  '\u0000',
);

/** A path segment: real ids, huge ones, and text, percent-encoded as UTF-8 bytes (lone surrogates too). */
const segment = (...real: (() => number)[]) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...real).map((id) => String(id())) },
    nastyNumber.map(String),
    fc.constantFrom('%E0%A4%A', '%00', '..', '%2F', '-0', '0x10', '1e3', '99999999999999999999'),
    nastyString.map((s) => Buffer.from(s).toString('hex').replace(/(..)/g, '%$1')),
  );
const qs = (entries: [string, string][]) =>
  entries.map(([k, v]) => `${encodeURIComponent(k)}=${Buffer.from(v).toString('hex').replace(/(..)/g, '%$1')}`).join('&');

const bookingBody = fc.record(
  {
    restaurantId: maybe(fc.constant(0).map(() => f.restaurantId), 30),
    tableId: maybe(fc.constant(0).map(() => f.tableId), 30),
    startsAt: fc.oneof(
      { weight: 12, arbitrary: fc.integer({ min: 1, max: 24 * 300 }).map((h) => new Date(Date.now() + h * 3_600_000).toISOString()) },
      nastyDate,
      anyValue,
    ),
    partySize: maybe(fc.integer({ min: 1, max: 4 }), 15),
    guestName: maybe(text),
    specialRequests: maybe(text),
    preorder: maybe(fc.array(fc.record({ menuItemId: maybe(fc.constant(0).map(() => f.menuItemId)), quantity: maybe(fc.integer({ min: 1, max: 50 })), notes: maybe(text) }), { maxLength: 3 })),
    language: maybe(fc.constantFrom('en', 'ru', 'kk'), 15),
  },
  { requiredKeys: ['restaurantId', 'tableId', 'startsAt', 'partySize'] },
);

const webhookPayload = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }),
  fc.record({
    object: maybe(fc.constant('whatsapp_business_account')),
    entry: maybe(
      fc.array(
        fc.record({
          id: anyValue,
          changes: maybe(
            fc.array(
              fc.record({
                field: maybe(fc.constant('messages')),
                value: fc.record({
                  messaging_product: maybe(fc.constant('whatsapp')),
                  metadata: maybe(fc.record({ phone_number_id: maybe(fc.constant(PHONE_NUMBER_ID)), display_phone_number: anyValue })),
                  contacts: maybe(fc.array(fc.record({ wa_id: maybe(nastyString), profile: maybe(fc.record({ name: anyValue })) }), { maxLength: 2 })),
                  messages: maybe(
                    fc.array(
                      fc.record(
                        {
                          from: maybe(fc.constantFrom('77011234567', '15551234567')),
                          id: maybe(nastyString.map((s) => `wamid.${s}`)),
                          timestamp: maybe(nastyNumber.map(String)),
                          type: maybe(fc.constantFrom('text', 'interactive', 'button', 'image')),
                          text: maybe(fc.record({ body: maybe(nastyString) })),
                          interactive: maybe(fc.record({ type: maybe(fc.constant('button_reply')), button_reply: maybe(fc.record({ id: maybe(nastyString), title: anyValue })) })),
                          button: maybe(fc.record({ payload: maybe(nastyString), text: anyValue })),
                        },
                        { requiredKeys: [] },
                      ),
                      { maxLength: 3 },
                    ),
                  ),
                  statuses: maybe(
                    fc.array(
                      fc.record(
                        {
                          id: maybe(nastyString),
                          status: maybe(fc.constantFrom('sent', 'delivered', 'read', 'failed')),
                          timestamp: maybe(nastyNumber.map(String)),
                          recipient_id: maybe(nastyString),
                          errors: maybe(fc.array(fc.record({ code: maybe(nastyNumber), title: maybe(nastyString) }), { maxLength: 2 })),
                        },
                        { requiredKeys: [] },
                      ),
                      { maxLength: 3 },
                    ),
                  ),
                }),
              }),
              { maxLength: 2 },
            ),
          ),
        }),
        { maxLength: 2 },
      ),
    ),
  }),
);

const runs = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true });

// ---- properties -------------------------------------------------------------------------

test('public API: POST /api/bookings and GET /api/bookings/:id (250 cases)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof({ weight: 4, arbitrary: bookingBody.map((json) => ({ json })) }, { weight: 1, arbitrary: rawBodies.map((raw) => ({ raw })) }),
      fc.option(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 250 }), { freq: 3 }),
      async (body, idempotencyKey) => {
        const res = await send('POST', '/api/bookings', { ...body, headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} });
        expectWellFormed(res, `POST /api/bookings ${JSON.stringify(body)}`);
      },
    ),
    runs(200),
  );
  await fc.assert(
    fc.asyncProperty(segment(() => closedBookingId), async (id) => {
      expectWellFormed(await send('GET', `/api/bookings/${id}`), `GET /api/bookings/${id}`);
    }),
    runs(50),
  );
});

test('admin API: restaurants, tables, menu, members, booking list, decisions, statistics, message log (300 cases)', async () => {
  const restaurantId = () => f.restaurantId;
  const userId = () => f.managers[0].userId;
  const bookingId = () => closedBookingId;
  const minutes = fc.option(fc.integer({ min: 1, max: 24 * 60 }));
  const admin = fc.oneof(
    fc.record({ name: maybe(text), timezone: maybe(fc.constantFrom('Asia/Almaty', 'UTC', '+05:00')), managerLanguageCode: maybe(fc.constantFrom('en', 'ru')) }, { requiredKeys: [] })
      .map((json) => ['POST', '/admin-api/restaurants', json] as const),
    fc.tuple(segment(restaurantId), fc.record({ name: maybe(text), decisionReminderMinutes: maybe(minutes), escalateMinutes: maybe(minutes), decisionTimeoutMinutes: maybe(minutes), slotMinutes: maybe(minutes), timezone: maybe(fc.constantFrom('UTC', 'Europe/Moscow')) }, { requiredKeys: [] }))
      .map(([id, json]) => ['PATCH', `/admin-api/restaurants/${id}`, json] as const),
    fc.tuple(segment(restaurantId), fc.record({ name: maybe(text), seats: maybe(fc.integer({ min: 1, max: 100 })), features: maybe(fc.array(text, { maxLength: 5 })) }, { requiredKeys: [] }))
      .map(([id, json]) => ['POST', `/admin-api/restaurants/${id}/tables`, json] as const),
    fc.tuple(segment(restaurantId), fc.record({ name: maybe(text), priceMinor: maybe(fc.integer({ min: 0, max: 10_000_000 })), currency: maybe(fc.constantFrom('KZT', 'usd')) }, { requiredKeys: [] }))
      .map(([id, json]) => ['POST', `/admin-api/restaurants/${id}/menu-items`, json] as const),
    fc.tuple(segment(restaurantId), fc.record({ name: maybe(text), phone: maybe(fc.constantFrom('+77011239876', '87011239876', '+1 555 0100')), role: maybe(fc.constantFrom('manager', 'owner')), language: maybe(fc.constantFrom('en', 'kk')) }, { requiredKeys: [] }))
      .map(([id, json]) => ['POST', `/admin-api/restaurants/${id}/managers`, json] as const),
    fc.tuple(segment(restaurantId), segment(userId)).map(([id, user]) => ['DELETE', `/admin-api/restaurants/${id}/managers/${user}`, undefined] as const),
    segment(restaurantId).map((id) => ['GET', `/admin-api/restaurants/${id}`, undefined] as const),
    segment(bookingId).map((id) => ['GET', `/admin-api/bookings/${id}`, undefined] as const),
    fc
      .tuple(
        segment(restaurantId),
        fc.array(
          fc.oneof(
            fc.tuple(fc.constantFrom('status', 'from', 'to', 'limit', 'cursor', 'other'), fc.oneof(nastyString, nastyDate, nastyNumber.map(String))),
            fc.tuple(fc.constant('cursor'), fc.tuple(fc.oneof(nastyDate, nastyString), fc.oneof(nastyNumber.map(String), nastyString)).map(([d, id]) => Buffer.from(`${d}|${id}`).toString('base64url'))),
          ),
          { maxLength: 4 },
        ),
      )
      .map(([id, query]) => ['GET', `/admin-api/r/${id}/bookings?${qs(query)}`, undefined] as const),
    fc
      .tuple(segment(restaurantId), segment(bookingId), fc.constantFrom('approve', 'reject', 'cancel'), fc.record({ managerId: maybe(fc.constant(0).map(() => f.managers[0].userId)), reason: maybe(text) }, { requiredKeys: [] }))
      .map(([rid, bid, action, json]) => ['POST', `/admin-api/r/${rid}/booking/${bid}/${action}`, json] as const),
    fc
      .tuple(segment(bookingId), fc.record({ phone: maybe(fc.constantFrom('+77011230000', 'abc')), name: maybe(text) }, { requiredKeys: [] }))
      .map(([bid, json]) => ['POST', `/admin-api/booking/${bid}/confirm`, json] as const),
    fc
      .array(
        fc.tuple(
          fc.constantFrom('restaurantId', 'managerId', 'from', 'to', 'other'),
          fc.oneof(nastyString, nastyDate, nastyNumber.map(String), fc.constant(0).map(() => String(f.restaurantId))),
        ),
        { maxLength: 4 },
      )
      .map((query) => ['GET', `/admin-api/stats?${qs(query)}`, undefined] as const),
    fc
      .array(
        fc.tuple(
          fc.constantFrom('bookingId', 'restaurantId', 'phone', 'direction', 'status', 'purpose', 'limit', 'cursor', 'managerId'),
          fc.oneof(nastyString, nastyNumber.map(String), fc.constantFrom('in', 'out', 'failed', '+77011230000', 'MTIz')),
        ),
        { maxLength: 4 },
      )
      .map((query) => ['GET', `/admin-api/messages?${qs(query)}`, undefined] as const),
  );
  await fc.assert(
    fc.asyncProperty(admin, fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: rawBodies }), async ([method, path, json], raw) => {
      const res = await send(method, path, raw !== null && method !== 'GET' && method !== 'DELETE' ? { raw } : { json });
      expectWellFormed(res, `${method} ${path} ${raw ?? JSON.stringify(json)}`);
    }),
    runs(300),
  );
});

test('signed webhook deliveries of any JSON: stored or refused in the one error shape, never a 5xx (100 cases)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 5, arbitrary: webhookPayload.map((p) => JSON.stringify(p)) }, { weight: 1, arbitrary: rawBodies }), async (raw) => {
      const res = await send('POST', WHATSAPP_WEBHOOK_PATH, { raw, headers: { 'x-hub-signature-256': sign(raw, APP_SECRET) } });
      expectWellFormed(res, `webhook ${raw}`);
    }),
    runs(100),
  );
});

/**
 * The console's sign-in and what a session may reach, over HTTP against real Postgres: links
 * made by the `/console` command (createConsoleLinks), forged and expired links, the admin
 * token sign-in, and a manager's session confined to their restaurants on the admin API.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { request } from './helpers/openapi';
import { createConsoleLinks, type ConsoleLinks } from '../api/console/link';
import { consoleSigningKey, signConsoleToken, type ConsoleClaims } from '../api/console/tokens';
import { loadConfig } from '../config';
import { listenForStatusChanges } from '../db/bookingEvents';
import { transitionBooking } from '../db/bookingHistory';
import { createLogger } from '../observability/logger';
import { createTestApp, TEST_ADMIN_TOKEN } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createRestaurantFixture, insertDraftRow, testPhone, type RestaurantFixture } from './helpers/fixtures';

const config = loadConfig({ NODE_ENV: 'test' });
const key = consoleSigningKey(config, TEST_ADMIN_TOKEN);
let t: TestDatabase;
let app: Express;
let links: ConsoleLinks;
let a: RestaurantFixture;
let b: RestaurantFixture;
let bookingOfA: number;
let bookingOfB: number;

beforeAll(async () => {
  t = await createTestDatabase();
  app = createTestApp({ db: t.db });
  links = createConsoleLinks({ db: t.db, config, adminToken: TEST_ADMIN_TOKEN, listeningAt: () => 'http://127.0.0.1:3000' });
  [a, b] = [await createRestaurantFixture(t.db), await createRestaurantFixture(t.db)];
  const startsAt = new Date(Date.now() + 86_400_000);
  bookingOfA = (await insertDraftRow(t.db, config, a, { now: Date.now(), startsAt })).id;
  bookingOfB = (await insertDraftRow(t.db, config, b, { now: Date.now(), startsAt })).id;
});
afterAll(() => t.drop());

const linkPath = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

/** Opens a link as a browser would and returns the session cookie it set, if any. */
async function open(path: string) {
  const res = await request(app).get(path);
  const cookie = (res.headers['set-cookie'] as unknown as string[] | undefined)?.find((c) => c.startsWith('wa_console='));
  return { res, cookie: cookie?.split(';')[0] };
}

async function managerSession(f: RestaurantFixture): Promise<string> {
  const link = await links.forPhone(f.managers[0].phone);
  const { res, cookie } = await open(linkPath(link!.url));
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe('/console/');
  return cookie!;
}

test('the /console link of a manager opens a session for their restaurant, traded for an HttpOnly SameSite=Strict cookie', async () => {
  const link = await links.forPhone(a.managers[0].phone);
  expect(link).toMatchObject({ member: { userId: a.managers[0].userId, role: 'manager' }, restaurants: [{ id: a.restaurantId, name: 'Test Bistro' }] });
  expect(link!.url).toMatch(/^http:\/\/127\.0\.0\.1:3000\/console\/\?link=[\w-]+\.[\w-]+$/);
  expect(link!.expiresAt.getTime() - Date.now()).toBeGreaterThan(config.CONSOLE_LINK_TTL - 5_000);

  const { res } = await open(linkPath(link!.url));
  expect(res.status).toBe(303);
  const setCookie = (res.headers['set-cookie'] as unknown as string[]).join('\n');
  expect(setCookie).toMatch(/^wa_console=[\w-]+\.[\w-]+; Max-Age=28800; Path=\/; Expires=.+; HttpOnly; SameSite=Strict$/m);

  const cookie = await managerSession(a);
  const session = await request(app).get('/console/api/session').set('Cookie', cookie);
  expect(session.status).toBe(200);
  expect(session.body).toMatchObject({ kind: 'manager', userId: a.managers[0].userId, restaurants: [{ id: a.restaurantId }] });
});

test('nobody but a manager or owner gets a link; a PUBLIC_URL with a path keeps it', async () => {
  expect(await links.forPhone(testPhone())).toBeUndefined();
  const behindProxy = createConsoleLinks({
    db: t.db,
    config: { ...config, PUBLIC_URL: 'https://example.com/booking' },
    adminToken: TEST_ADMIN_TOKEN,
    listeningAt: () => undefined,
  });
  expect((await behindProxy.forPhone(b.owner.phone))!.url).toMatch(/^https:\/\/example\.com\/booking\/console\/\?link=/);
});

test('an expired, forged, tampered or wrong-kind link is refused: no cookie, the page says so', async () => {
  const claims: ConsoleClaims = { kind: 'link', sub: a.managers[0].userId, restaurants: [a.restaurantId], exp: Date.now() + 60_000 };
  const valid = signConsoleToken(key, claims);
  const [body, signature] = valid.split('.');
  const tampered = `${Buffer.from(JSON.stringify({ ...claims, restaurants: [a.restaurantId, b.restaurantId] })).toString('base64url')}.${signature}`;
  const refused = [
    signConsoleToken(key, { ...claims, exp: Date.now() - 1 }), // expired
    signConsoleToken(consoleSigningKey(config, 'another-admin-token-0123456789'), claims), // another key
    tampered,
    `${body}.${signature.slice(1)}`,
    signConsoleToken(key, { ...claims, kind: 'session' }), // a session is not a link
    signConsoleToken(key, { ...claims, sub: 'admin', restaurants: undefined }), // links are for managers only
    'not-a-token',
  ];
  for (const token of refused) {
    const { res, cookie } = await open(`/console/?link=${encodeURIComponent(token)}`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/console/?signin=refused');
    expect(cookie).toBeUndefined();
  }
  // The untouched one works, so the refusals above are the tampering's doing.
  expect((await open(`/console/?link=${valid}`)).cookie).toBeDefined();
  // A link is not a session either.
  const asCookie = await request(app).get('/console/api/session').set('Cookie', `wa_console=${valid}`);
  expect(asCookie.status).toBe(401);
  expect((await request(app).get(`/admin-api/r/${a.restaurantId}/bookings`).set('Cookie', `wa_console=${valid}`)).status).toBe(401);
});

test("a manager's session reads their restaurant's bookings and nothing of another restaurant", async () => {
  const cookie = await managerSession(a);
  const get = (path: string) => request(app).get(`/admin-api${path}`).set('Cookie', cookie);

  const own = await get(`/r/${a.restaurantId}/bookings`);
  expect(own.status).toBe(200);
  expect(own.body.items.map((i: { id: number }) => i.id)).toEqual([bookingOfA]);
  expect((await get(`/bookings/${bookingOfA}`)).status).toBe(200);
  expect((await get(`/restaurants/${a.restaurantId}`)).status).toBe(200);
  expect((await get(`/stats?restaurantId=${a.restaurantId}`)).status).toBe(200);
  expect((await get(`/messages?bookingId=${bookingOfA}`)).status).toBe(200);

  const other = await get(`/r/${b.restaurantId}/bookings`);
  expect(other.status).toBe(403);
  expect(other.body.error.code).toBe('forbidden');
  expect(JSON.stringify(other.body)).not.toContain('Table 5');
  // Another restaurant's booking looks like no booking at all.
  const foreign = await get(`/bookings/${bookingOfB}`);
  expect(foreign.status).toBe(404);
  expect(foreign.body.error.code).toBe('not_found');
  expect((await get(`/restaurants/${b.restaurantId}`)).status).toBe(403);
  expect((await get(`/r/${b.restaurantId}/bookings/events`)).status).toBe(403);
  expect((await get(`/stats?restaurantId=${b.restaurantId}`)).status).toBe(403);
  expect((await get(`/messages?bookingId=${bookingOfB}`)).status).toBe(404);
  // The admin's own routes stay the admin's.
  expect((await get('/inbox')).status).toBe(403);
  const create = await request(app)
    .post('/admin-api/restaurants')
    .set('Cookie', cookie)
    .set('X-Console-Request', '1')
    .send({ name: 'Mine now', timezone: 'UTC', managerLanguageCode: 'en' });
  expect(create.status).toBe(403);
  // A decision in another restaurant, or on someone else's behalf, is refused before it reaches the workflow.
  const decide = (path: string, body: object = {}) =>
    request(app).post(`/admin-api${path}`).set('Cookie', cookie).set('X-Console-Request', '1').send(body);
  expect((await decide(`/r/${b.restaurantId}/booking/${bookingOfB}/approve`)).status).toBe(403);
  expect((await decide(`/r/${a.restaurantId}/booking/${bookingOfA}/approve`, { managerId: a.managers[1].userId })).status).toBe(403);
});

test('a cookie-authenticated change needs the X-Console-Request header; a bearer token is never second-guessed by a cookie', async () => {
  const cookie = await managerSession(a);
  const noHeader = await request(app).post(`/admin-api/r/${a.restaurantId}/booking/${bookingOfA}/cancel`).set('Cookie', cookie).send({});
  expect(noHeader.status).toBe(401);
  expect(noHeader.body.error.message).toContain('X-Console-Request');

  const wrongBearer = await request(app).get(`/admin-api/r/${a.restaurantId}/bookings`).set('Cookie', cookie).set('Authorization', 'Bearer wrong-token');
  expect(wrongBearer.status).toBe(401);
  expect(wrongBearer.headers['www-authenticate']).toBe('Bearer realm="admin-api", error="invalid_token"');
  const bearer = await request(app).get(`/admin-api/r/${b.restaurantId}/bookings`).set('Authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
  expect(bearer.status).toBe(200);
});

test('a manager removed from the restaurant loses the session at once', async () => {
  const f = await createRestaurantFixture(t.db);
  const cookie = await managerSession(f);
  expect((await request(app).get(`/admin-api/r/${f.restaurantId}/bookings`).set('Cookie', cookie)).status).toBe(200);
  await request(app).delete(`/admin-api/restaurants/${f.restaurantId}/managers/${f.managers[0].userId}`).set('Authorization', `Bearer ${TEST_ADMIN_TOKEN}`).expect(204);
  expect((await request(app).get(`/admin-api/r/${f.restaurantId}/bookings`).set('Cookie', cookie)).status).toBe(401);
  expect((await request(app).get('/console/api/session').set('Cookie', cookie)).status).toBe(401);
});

test('the admin signs in with the admin token and sees every restaurant', async () => {
  const wrong = await request(app).post('/console/api/login').send({ token: `${TEST_ADMIN_TOKEN}x` });
  expect(wrong.status).toBe(401);
  expect(wrong.headers['set-cookie']).toBeUndefined();

  const login = await request(app).post('/console/api/login').send({ token: TEST_ADMIN_TOKEN });
  expect(login.status).toBe(204);
  const cookie = (login.headers['set-cookie'] as unknown as string[])[0].split(';')[0];
  expect(cookie).not.toContain(TEST_ADMIN_TOKEN);
  const session = await request(app).get('/console/api/session').set('Cookie', cookie);
  expect(session.body.kind).toBe('admin');
  expect(session.body.restaurants.map((r: { id: number }) => r.id)).toEqual(expect.arrayContaining([a.restaurantId, b.restaurantId]));
  expect((await request(app).get(`/admin-api/r/${b.restaurantId}/bookings`).set('Cookie', cookie)).status).toBe(200);
  expect((await request(app).get('/admin-api/inbox').set('Cookie', cookie)).status).toBe(200);

  const logout = await request(app).post('/console/api/logout').set('Cookie', cookie).set('X-Console-Request', '1');
  expect(logout.status).toBe(204);
  expect((logout.headers['set-cookie'] as unknown as string[])[0]).toMatch(/^wa_console=;/);
});

test('the page is served with a strict Content-Security-Policy', async () => {
  const res = await request(app).get('/console/');
  expect(res.status).toBe(200);
  expect(res.headers['content-security-policy']).toContain("script-src 'self'");
  expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
});

test("a restaurant's live stream carries its own bookings' changes and nothing of another restaurant's", async () => {
  const feed = await listenForStatusChanges({ databaseUrl: t.url, logger: createLogger('silent') });
  const server = http.createServer(createTestApp({ db: t.db, bookingEvents: feed }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const controller = new AbortController();
  try {
    const startsAt = (days: number) => new Date(Date.now() + days * 86_400_000);
    const ofA = (await insertDraftRow(t.db, config, a, { now: Date.now(), startsAt: startsAt(3) })).id;
    const ofB = (await insertDraftRow(t.db, config, b, { now: Date.now(), startsAt: startsAt(3) })).id;
    const cookie = await managerSession(a);
    const res = await fetch(`${base}/admin-api/r/${a.restaurantId}/bookings/events`, { headers: { cookie }, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let buffered = '';
    const next = async () => {
      for (;;) {
        const frame = /^(?:: heartbeat\n\n)*event: (\w+)\ndata: (.*)\n\n/.exec(buffered);
        if (frame) {
          buffered = buffered.slice(frame[0].length);
          return { event: frame[1], data: JSON.parse(frame[2]) };
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        buffered += Buffer.from(value).toString();
      }
    };
    expect(await next()).toEqual({ event: 'ready', data: {} });
    // B's change first: had it been passed on, it would be the next frame.
    await transitionBooking(t.db, { bookingId: ofB, from: 'DRAFT', to: 'PENDING', actor: { type: 'system' } });
    await transitionBooking(t.db, { bookingId: ofA, from: 'DRAFT', to: 'PENDING', actor: { type: 'system' } });
    await transitionBooking(t.db, { bookingId: ofA, from: 'PENDING', to: 'APPROVED', actor: { type: 'admin' } });
    expect(await next()).toEqual({ event: 'booking', data: { id: ofA, from: 'DRAFT', to: 'PENDING' } });
    expect(await next()).toEqual({ event: 'booking', data: { id: ofA, from: 'PENDING', to: 'APPROVED' } });
  } finally {
    controller.abort();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await feed.close();
  }
});

test('CONSOLE_LINK_TTL bounds a link; CONSOLE_LINK_SECRET, when set, is the key; the settings are validated', async () => {
  const shortLived = createConsoleLinks({ db: t.db, config: { ...config, CONSOLE_LINK_TTL: 50 }, adminToken: TEST_ADMIN_TOKEN, listeningAt: () => 'http://127.0.0.1:3000' });
  const link = await shortLived.forPhone(a.managers[1].phone);
  await new Promise((resolve) => setTimeout(resolve, 60));
  const late = await open(linkPath(link!.url));
  expect(late.res.headers.location).toBe('/console/?signin=refused');
  expect(late.cookie).toBeUndefined();

  // Another key than the API's: what a link signed before CONSOLE_LINK_SECRET was rotated looks like.
  const secret = 'a-console-link-secret-of-32-chars!';
  expect(consoleSigningKey({ CONSOLE_LINK_SECRET: secret }, TEST_ADMIN_TOKEN).equals(key)).toBe(false);
  const withSecret = createConsoleLinks({ db: t.db, config: { ...config, CONSOLE_LINK_SECRET: secret }, adminToken: TEST_ADMIN_TOKEN, listeningAt: () => 'http://127.0.0.1:3000' });
  expect((await open(linkPath((await withSecret.forPhone(a.managers[0].phone))!.url))).cookie).toBeUndefined();

  expect(() => loadConfig({ CONSOLE_LINK_SECRET: 'too-short' })).toThrow(/CONSOLE_LINK_SECRET: must be at least 32 characters/);
  expect(() => loadConfig({ PUBLIC_URL: 'ftp://example.com' })).toThrow(/PUBLIC_URL/);
  expect(() => loadConfig({ CONSOLE_LINK_TTL: 'soon' })).toThrow(/CONSOLE_LINK_TTL/);
  expect(loadConfig({}).CONSOLE_LINK_TTL).toBe(15 * 60_000);
});

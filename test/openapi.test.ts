/** The OpenAPI document: valid OpenAPI 3.1, served, and naming every route the app registers. */
import { validate, compileErrors } from '@readme/openapi-parser';
import type { Express } from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import supertest from 'supertest';
import type { BookingStatusFeed } from '../db/bookingEvents';
import type { NotificationChannel } from '../domain/notifications';
import { createLogger } from '../observability/logger';
import { createWhatsAppWebhookRouter } from '../api/routes/whatsappWebhook';
import { loadConfig } from '../config';
import { claimOutbound } from '../db/messages';
import { createTestApp, fakeTemporal, TEST_ADMIN_TOKEN } from './helpers/app';
import { ensureChromium, launchBrowser } from './helpers/browser';
import { createRestaurantFixture } from './helpers/fixtures';
import { uniqueId } from './helpers/temporal';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { expectMatchesOpenApi, openApiDocument, request } from './helpers/openapi';

let t: TestDatabase;
let app: Express;
beforeAll(async () => {
  t = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: 'test', WHATSAPP_APP_SECRET: 'secret', WHATSAPP_VERIFY_TOKEN: 'verify' });
  // Every optional part of the app, so every route it can have is registered. Nothing here is
  // called: the test only reads the router.
  app = createTestApp({
    db: t.db,
    config,
    webhook: createWhatsAppWebhookRouter({
      config,
      db: t.db,
      temporal: fakeTemporal(),
      logger: createLogger('silent'),
      channel: {} as NotificationChannel,
    }),
    bookingEvents: { subscribe: () => () => undefined } as unknown as BookingStatusFeed,
    codec: { codec: { encode: async (p) => p, decode: async (p) => p }, namespace: 'default', uiOrigins: [] },
  });
});
afterAll(() => t?.drop());

/** Sandbox mode's page and its API: development only, said so in the document's description. */
const UNDOCUMENTED = /^\/sandbox(\/|$)/;

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string | string[];
}

/** METHOD /path for each route of an express 5 router, mounted routers included, in OpenAPI's {param} form. */
function routesOf(stack: Layer[], prefix = ''): string[] {
  const join = (a: string, b: string) => (a + (b === '/' ? '' : b) || '/').replace(/\/\/+/g, '/');
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = ([] as string[]).concat(layer.route.path);
      const methods = Object.keys(layer.route.methods).filter((m) => m !== '_all');
      return paths.flatMap((path) => methods.map((m) => `${m.toUpperCase()} ${join(prefix, path).replace(/:(\w+)/g, '{$1}')}`));
    }
    if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' ? layer.rawPath : '/';
      return routesOf(layer.handle.stack, join(prefix, mount));
    }
    return [];
  });
}

const documented = () =>
  Object.entries(openApiDocument.paths ?? {}).flatMap(([path, item]) =>
    Object.keys(item ?? {})
      .filter((key) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );

test('the document is valid OpenAPI 3.1', async () => {
  expect(openApiDocument.openapi).toMatch(/^3\.1\./);
  const result = await validate(structuredClone(openApiDocument) as Parameters<typeof validate>[0]);
  if (!result.valid) throw new Error(compileErrors(result));
  expect(result.valid).toBe(true);
});

test('every route the app registers is in the document, and the document names no route the app lacks', () => {
  const registered = routesOf((app as unknown as { router: { stack: Layer[] } }).router.stack).filter(
    (route) => !UNDOCUMENTED.test(route.split(' ')[1]),
  );
  // The walk itself must see the app: a broken walk would pass vacuously.
  expect(registered).toEqual(expect.arrayContaining(['POST /api/bookings', 'GET /admin-api/restaurants/{id}', 'GET /health']));
  expect([...new Set(registered)].sort()).toEqual(documented().sort());
});

test('GET /openapi.json serves the document; GET /docs the reference page, its assets local', async () => {
  const doc = await request(app).get('/openapi.json');
  expect(doc.status).toBe(200);
  expect(doc.body).toEqual(JSON.parse(JSON.stringify(openApiDocument)));

  const page = await request(app).get('/docs');
  expect(page.status).toBe(200);
  expect(page.headers['content-security-policy']).toContain("default-src 'self'");
  const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  expect(assets).toEqual(['docs/favicon-32x32.png', 'docs/swagger-ui.css', 'docs/swagger-ui-bundle.js', 'docs/init.js']);
  for (const asset of assets) {
    // Files of the page, not operations: unchecked.
    const res = await supertest(app).get(`/${asset}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript|css|png/);
  }
});

test('the reference page renders every operation in chromium, under its CSP, from this server alone', async () => {
  await ensureChromium();
  const server = http.createServer(app).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('request', (r) => !r.url().startsWith(origin) && problems.push(`request elsewhere: ${r.url()}`));
    await page.goto(`${origin}/docs`);
    await page.waitForSelector('.opblock');
    expect(await page.locator('.opblock').count()).toBe(documented().length);
    // A CSP violation or a missing asset shows up as a console error.
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
    server.close();
  }
});

test("the reports and the console's session answer as the document says", async () => {
  const fixture = await createRestaurantFixture(t.db);
  await claimOutbound(
    t.db,
    { idempotencyKey: uniqueId('openapi'), phone: fixture.managers[0].phone, purpose: 'managerRequest', payload: { type: 'text' } },
    { status: 'queued', leaseMs: 60_000 },
  );
  const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  expect((await request(app).get(`/admin-api/stats?restaurantId=${fixture.restaurantId}`).set(admin)).status).toBe(200);
  const log = await request(app).get('/admin-api/messages').set(admin);
  expect(log.body.items.length).toBeGreaterThan(0);
  const asManager = await request(app).get(`/admin-api/messages?managerId=${fixture.managers[0].userId}`).set(admin);
  expect(asManager.status).toBe(200);

  const signIn = await request(app).post('/console/api/login').send({ token: TEST_ADMIN_TOKEN });
  expect(signIn.status).toBe(204);
  const cookie = signIn.headers['set-cookie'];
  expect((await request(app).get('/console/api/session').set('Cookie', cookie)).status).toBe(200);
});

test('an answer the document does not allow fails the check', () => {
  const ok = { status: 200, headers: { 'content-type': 'application/json' } };
  expect(() => expectMatchesOpenApi({ ...ok, body: { id: 1, status: 'PENDING' } }, 'GET', '/api/bookings/1')).toThrow(/does not match/);
  expect(() => expectMatchesOpenApi({ ...ok, status: 418, body: {} }, 'GET', '/api/bookings/1')).toThrow(/does not match/);
  expect(() => expectMatchesOpenApi({ ...ok, status: 201, body: {} }, 'GET', '/api/bookings/1')).toThrow(/no such status/);
  expect(() => expectMatchesOpenApi({ ...ok, body: {} }, 'GET', '/nowhere')).toThrow(/not in the OpenAPI document/);
  const booking = { id: 1, status: 'PENDING', restaurantId: 1, tableId: 2, startsAt: '2030-01-12T14:30:00.000Z', partySize: 2 };
  expect(() => expectMatchesOpenApi({ ...ok, body: booking }, 'GET', '/api/bookings/1')).not.toThrow();
  expect(() => expectMatchesOpenApi({ ...ok, body: { ...booking, claimCode: 'secret' } }, 'GET', '/api/bookings/1')).toThrow(/does not match/);
});

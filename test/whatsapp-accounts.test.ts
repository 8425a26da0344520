/**
 * /admin-api/whatsapp-accounts and POST /api/waha/webhook over real HTTP, on a real database,
 * with the fake WAHA and the fake Graph API: CRUD with credentials sealed and never shown
 * (answers and the captured log searched for them), restaurants pointing at an account, the
 * test message, the session routes, and WAHA's signed deliveries stored in the inbox.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import pino from 'pino';
import supertest from 'supertest';
import { loadConfig } from '../config';
import { generatePayloadKeys, parsePayloadKeys } from '../config/payloadKeys';
import { createCredentialCipher } from '../whatsapp/accounts/credentials';
import { createApp } from '../api/app';
import { startFakeGraphApi, type FakeGraphApi } from '../sandbox/graph';
import { startFakeWaha, type FakeWaha } from '../sandbox/waha';
import { claimOutbound, markOutboundSent } from '../db/messages';
import { buttonsMessage } from '../whatsapp/messages';
import { createWahaClient } from '../whatsapp/waha/client';
import { signWaha } from '../whatsapp/waha/events';
import { asNumberedText } from '../whatsapp/waha/numbered';
import { fakeTemporal, TEST_ADMIN_TOKEN } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { eventually, testPhone } from './helpers/fixtures';
import { expectMatchesOpenApi } from './helpers/openapi';

const SECRETS = {
  graphToken: 'EAAG-graph-token-of-the-bistro-0123456789',
  appSecret: 'app-secret-of-the-bistro-0123456789',
  wahaKey: 'waha-api-key-of-the-cafe-0123456789',
  hmacKey: 'waha-hmac-key-of-the-cafe-0123456789',
  rotatedToken: 'EAAG-rotated-token-0123456789',
};
const PHONE_NUMBER_ID = '109876543210987';
const keys = parsePayloadKeys(generatePayloadKeys()).keys;

let t: TestDatabase;
let graph: FakeGraphApi;
let waha: FakeWaha;
let server: http.Server;
let base: string;
/** Every line the app logged, raw, at the most talkative level. */
const logged: string[] = [];
/** Every answer's body, raw. */
const answered: string[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  graph = await startFakeGraphApi({ accessToken: SECRETS.graphToken, phoneNumberId: PHONE_NUMBER_ID });
  waha = await startFakeWaha({
    apiKey: SECRETS.wahaKey,
    sessions: [{ name: 'cafe', me: '15550004444' }, { name: 'fresh', paired: false }],
  });
  const app = createApp({
    config: loadConfig({ NODE_ENV: 'test', WHATSAPP_API_URL: graph.url }),
    db: t.db,
    temporal: fakeTemporal(),
    logger: pino({ level: 'trace' }, { write: (line: string) => void logged.push(line) }),
    adminToken: TEST_ADMIN_TOKEN,
    whatsappCredentialKeys: keys,
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  waha.configureWebhook({ url: `${base}/api/waha/webhook`, hmacKey: SECRETS.hmacKey, retries: 0 });
});
afterAll(async () => {
  await waha?.close();
  await graph?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await t?.drop();
});

type Method = 'get' | 'post' | 'patch' | 'delete';
/** An admin call over HTTP, its answer checked against the OpenAPI document and kept for the secrets search. */
async function call(method: Method, path: string, body?: unknown, headers: Record<string, string> = {}) {
  let req = supertest(base)[method](path).set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`);
  for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
  const res = await (body === undefined ? req : req.send(body as object));
  answered.push(res.text ?? '', JSON.stringify(res.headers));
  expectMatchesOpenApi(res, method, path);
  return res;
}

const cloudAccount = (over: Record<string, unknown> = {}) => ({
  provider: 'cloud_api',
  name: 'Bistro number',
  displayNumber: '+7 701 000 7777',
  phoneNumberId: PHONE_NUMBER_ID,
  accessToken: SECRETS.graphToken,
  appSecret: SECRETS.appSecret,
  ...over,
});
const wahaAccount = (over: Record<string, unknown> = {}) => ({
  provider: 'waha',
  name: 'Cafe WhatsApp Web',
  displayNumber: '+77010004444',
  baseUrl: waha.url,
  session: 'cafe',
  apiKey: SECRETS.wahaKey,
  webhookHmacKey: SECRETS.hmacKey,
  ...over,
});

let cloudId: number;
let wahaId: number;

describe('CRUD', () => {
  test('create a Cloud API number and a WAHA session: answered without credentials, stored sealed', async () => {
    const cloud = await call('post', '/admin-api/whatsapp-accounts', cloudAccount());
    expect(cloud.status).toBe(201);
    expect(cloud.body).toEqual({
      id: expect.any(Number),
      name: 'Bistro number',
      provider: 'cloud_api',
      displayNumber: '+77010007777',
      phoneNumberId: PHONE_NUMBER_ID,
      hasAccessToken: true,
      hasAppSecret: true,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(cloud.headers.location).toBe(`/admin-api/whatsapp-accounts/${cloud.body.id}`);
    cloudId = cloud.body.id;

    const w = await call('post', '/admin-api/whatsapp-accounts', wahaAccount());
    expect(w.status).toBe(201);
    expect(w.body).toMatchObject({ provider: 'waha', baseUrl: waha.url, session: 'cafe', hasApiKey: true, hasWebhookHmacKey: true, sessionStatus: null });
    wahaId = w.body.id;

    const row = await t.db('whatsapp_accounts').where({ id: cloudId }).first();
    expect(JSON.stringify(row)).not.toContain(SECRETS.graphToken);
    expect(createCredentialCipher(keys).open('accessToken', row.access_token_sealed)).toBe(SECRETS.graphToken);
    expect(createCredentialCipher(keys).open('appSecret', row.app_secret_sealed)).toBe(SECRETS.appSecret);
  });

  test('list and get', async () => {
    const list = await call('get', '/admin-api/whatsapp-accounts');
    expect(list.body.items.map((a: { id: number }) => a.id)).toEqual([cloudId, wahaId]);
    expect((await call('get', `/admin-api/whatsapp-accounts/${wahaId}`)).body).toMatchObject({ id: wahaId, session: 'cafe' });
    expect((await call('get', '/admin-api/whatsapp-accounts/999999')).status).toBe(404);
    expect((await call('get', '/admin-api/whatsapp-accounts/abc')).status).toBe(404);
  });

  test('invalid bodies are 400 naming the fields; a second account on one session or number is 409', async () => {
    const bad = await call('post', '/admin-api/whatsapp-accounts', { provider: 'waha', name: '', displayNumber: '12', baseUrl: 'ftp://x', session: 'a b' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['baseUrl', 'displayNumber', 'name', 'session']);
    const noToken = await call('post', '/admin-api/whatsapp-accounts', cloudAccount({ accessToken: undefined, phoneNumberId: '1' }));
    expect(noToken.body.error.details).toEqual([{ in: 'body', path: 'accessToken', message: 'required' }]);
    expect((await call('post', '/admin-api/whatsapp-accounts', { provider: 'telegram', name: 'x' })).status).toBe(400);
    const twin = await call('post', '/admin-api/whatsapp-accounts', wahaAccount({ name: 'Twin', displayNumber: '+77010005555' }));
    expect(twin.status).toBe(409);
    expect(twin.body.error.code).toBe('conflict');
  });

  test("patch: a credential replaced or cleared, never shown; the other provider's fields and the provider refused", async () => {
    const rotated = await call('patch', `/admin-api/whatsapp-accounts/${cloudId}`, { accessToken: SECRETS.rotatedToken, appSecret: null, name: 'Bistro main' });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ name: 'Bistro main', hasAccessToken: true, hasAppSecret: false });
    const row = await t.db('whatsapp_accounts').where({ id: cloudId }).first();
    expect(createCredentialCipher(keys).open('accessToken', row.access_token_sealed)).toBe(SECRETS.rotatedToken);
    expect(row.app_secret_sealed).toBeNull();
    // Back to the token the fake Graph API accepts.
    await call('patch', `/admin-api/whatsapp-accounts/${cloudId}`, { accessToken: SECRETS.graphToken });

    const wrong = await call('patch', `/admin-api/whatsapp-accounts/${cloudId}`, { session: 'x', apiKey: 'k' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details).toEqual([
      { in: 'body', path: 'session', message: 'not a field of a cloud_api account' },
      { in: 'body', path: 'apiKey', message: 'not a field of a cloud_api account' },
    ]);
    expect((await call('patch', `/admin-api/whatsapp-accounts/${wahaId}`, { provider: 'cloud_api' })).body.error.details).toEqual([
      { in: 'body', path: 'provider', message: 'unknown field' },
    ]);
    expect((await call('patch', `/admin-api/whatsapp-accounts/${cloudId}`, { accessToken: null })).status).toBe(400);
    expect((await call('patch', '/admin-api/whatsapp-accounts/999999', { name: 'x' })).status).toBe(404);
  });

  test('only the admin: no token is 401', async () => {
    const res = await supertest(base).get('/admin-api/whatsapp-accounts');
    expect(res.status).toBe(401);
  });
});

describe('restaurants and their account', () => {
  test('a restaurant sends from an account; one in use cannot be deleted; an unknown one is refused', async () => {
    const created = await call('post', '/admin-api/restaurants', { name: 'Cafe', timezone: 'Asia/Almaty', whatsappAccountId: wahaId });
    expect(created.status).toBe(201);
    expect(created.body.whatsappAccountId).toBe(wahaId);
    const plain = await call('post', '/admin-api/restaurants', { name: 'Plain', timezone: 'Asia/Almaty' });
    expect(plain.body.whatsappAccountId).toBeNull();
    expect((await call('patch', `/admin-api/restaurants/${plain.body.id}`, { whatsappAccountId: 999999 })).status).toBe(404);

    const spare = await call('post', '/admin-api/whatsapp-accounts', cloudAccount({ name: 'Spare', displayNumber: '+77010008888', phoneNumberId: '555' }));
    expect((await call('patch', `/admin-api/restaurants/${plain.body.id}`, { whatsappAccountId: spare.body.id })).body.whatsappAccountId).toBe(spare.body.id);
    const refused = await call('delete', `/admin-api/whatsapp-accounts/${spare.body.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.details).toEqual({ restaurantIds: [plain.body.id] });
    expect((await call('patch', `/admin-api/restaurants/${plain.body.id}`, { whatsappAccountId: null })).body.whatsappAccountId).toBeNull();
    expect((await call('delete', `/admin-api/whatsapp-accounts/${spare.body.id}`)).status).toBe(204);
    expect((await call('delete', `/admin-api/whatsapp-accounts/${spare.body.id}`)).status).toBe(404);
  });
});

describe('test message', () => {
  test('through a WAHA session: sent with its key, recorded, its acks applied from signed webhooks; the same Idempotency-Key sends nothing again', async () => {
    const to = testPhone();
    const res = await call('post', `/admin-api/whatsapp-accounts/${wahaId}/test`, { phone: to, text: 'Hello from the cafe' }, { 'idempotency-key': 'try-1' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'sent', messageId: waha.sent.at(-1)!.id });
    expect(waha.sent.at(-1)).toMatchObject({ session: 'cafe', chatId: `${to.slice(1)}@c.us`, text: 'Hello from the cafe' });

    const again = await call('post', `/admin-api/whatsapp-accounts/${wahaId}/test`, { phone: to, text: 'Hello from the cafe' }, { 'idempotency-key': 'try-1' });
    expect(again.body).toEqual(res.body);
    expect(waha.sent.filter((m) => m.text === 'Hello from the cafe')).toHaveLength(1);

    await waha.settled();
    const row = await eventually(
      () => t.db('whatsapp_messages').where({ provider_message_id: res.body.messageId }).first(),
      (r) => r?.status === 'read',
    );
    expect(row).toMatchObject({ direction: 'out', purpose: 'account_test', phone: to, idempotency_key: `account:${wahaId}:test:try-1` });
    expect(await t.db('whatsapp_status_events').where({ provider_message_id: res.body.messageId }).pluck('status')).toEqual(
      expect.arrayContaining(['sent', 'delivered', 'read']),
    );
  });

  test("through a Cloud API number: the account's own token and phone_number_id; a refusal answered and recorded as failed", async () => {
    const to = testPhone();
    const res = await call('post', `/admin-api/whatsapp-accounts/${cloudId}/test`, { phone: to });
    expect(res.body).toEqual({ status: 'sent', messageId: graph.accepted.at(-1)!.id });
    expect(graph.requests.at(-1)).toMatchObject({ authorized: true, path: expect.stringContaining(`/${PHONE_NUMBER_ID}/messages`) });
    expect(graph.accepted.at(-1)).toMatchObject({ to: to.slice(1), type: 'text' });

    graph.fail({ code: 131026, title: 'Message undeliverable', times: 1 });
    const failed = await call('post', `/admin-api/whatsapp-accounts/${cloudId}/test`, { phone: to });
    expect(failed.body).toEqual({ status: 'failed', error: { title: 'Message undeliverable', reason: 'recipient', retryable: false, code: 131026 } });
    const rows = await t.db('whatsapp_messages').where({ purpose: 'account_test', phone: to }).orderBy('id');
    expect(rows.map((r) => r.status)).toEqual(['sent', 'failed']);
    expect(rows[1]).toMatchObject({ error_code: 131026, provider_message_id: null });
  });
});

describe('WAHA session pass-through', () => {
  test('status, stop and start of the session; a session.status webhook kept on the account', async () => {
    expect((await call('get', `/admin-api/whatsapp-accounts/${wahaId}/session`)).body).toEqual({
      name: 'cafe',
      status: 'WORKING',
      me: { id: '15550004444@c.us', pushName: 'Fake Restaurant' },
    });
    expect((await call('post', `/admin-api/whatsapp-accounts/${wahaId}/session/stop`)).body).toMatchObject({ status: 'STOPPED' });
    await waha.settled();
    expect((await call('get', `/admin-api/whatsapp-accounts/${wahaId}`)).body).toMatchObject({ sessionStatus: 'STOPPED', sessionStatusAt: expect.any(String) });
    // A stopped session cannot send: the test says so, retryable.
    const stopped = await call('post', `/admin-api/whatsapp-accounts/${wahaId}/test`, { phone: testPhone() });
    expect(stopped.body).toMatchObject({ status: 'failed', error: { reason: 'session', retryable: true } });
    expect((await call('post', `/admin-api/whatsapp-accounts/${wahaId}/session/start`)).body).toMatchObject({ status: 'WORKING' });
    await waha.settled();
    expect((await call('get', `/admin-api/whatsapp-accounts/${wahaId}`)).body.sessionStatus).toBe('WORKING');
  });

  test('QR code of a session waiting for one, as PNG or raw; none for a working session (409) or a Cloud API number (409)', async () => {
    const fresh = await call('post', '/admin-api/whatsapp-accounts', wahaAccount({ name: 'Fresh', displayNumber: '+77010009999', session: 'fresh', webhookHmacKey: undefined }));
    const png = await supertest(base).get(`/admin-api/whatsapp-accounts/${fresh.body.id}/qr`).set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`).buffer(true);
    expect(png.status).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.headers['cache-control']).toBe('no-store');
    expect(Buffer.from(png.body).subarray(1, 4).toString('latin1')).toBe('PNG');
    expect((await call('get', `/admin-api/whatsapp-accounts/${fresh.body.id}/qr?format=raw`)).body).toEqual({ value: expect.stringMatching(/^2@fake-qr-fresh/) });
    expect((await call('get', `/admin-api/whatsapp-accounts/${wahaId}/qr`)).status).toBe(409);
    expect((await call('get', `/admin-api/whatsapp-accounts/${cloudId}/qr`)).status).toBe(409);
    expect((await call('get', `/admin-api/whatsapp-accounts/${cloudId}/session`)).body.error.message).toMatch(/only a waha account has a session/);
    expect((await call('get', `/admin-api/whatsapp-accounts/${fresh.body.id}/qr?format=svg`)).status).toBe(400);
  });

  test('WAHA failing is 503, a session it does not know 404, a wrong API key 409', async () => {
    waha.fail({ status: 500, times: 1 });
    expect((await call('get', `/admin-api/whatsapp-accounts/${wahaId}/session`)).status).toBe(503);
    const ghost = await call('post', '/admin-api/whatsapp-accounts', wahaAccount({ name: 'Ghost', displayNumber: '+77010001212', session: 'ghost', webhookHmacKey: undefined }));
    expect((await call('get', `/admin-api/whatsapp-accounts/${ghost.body.id}/session`)).status).toBe(404);
    await call('patch', `/admin-api/whatsapp-accounts/${ghost.body.id}`, { session: 'cafe2', apiKey: 'wrong-key-0123456789' });
    expect((await call('post', `/admin-api/whatsapp-accounts/${ghost.body.id}/session/start`)).status).toBe(409);
    expect((await call('delete', `/admin-api/whatsapp-accounts/${ghost.body.id}`)).status).toBe(204);
  });
});

describe('POST /api/waha/webhook', () => {
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    supertest(base).post('/api/waha/webhook').set('content-type', 'application/json').set(headers).send(typeof body === 'string' ? body : JSON.stringify(body));
  const message = (session: string, from: string, id: string, text: string) => ({
    event: 'message',
    session,
    payload: { id, timestamp: Math.floor(Date.now() / 1000), from: `${from.slice(1)}@c.us`, fromMe: false, body: text, hasMedia: false },
  });

  test("a person's message, signed by the fake WAHA, is stored in the inbox in the Cloud API's event shape", async () => {
    const from = testPhone();
    const { messageId, delivery } = await waha.receiveText('cafe', from, '1', { name: 'Aigerim' });
    expect(delivery.status).toBe(200);
    expect(delivery.headers).toMatchObject({ 'x-webhook-hmac': expect.stringMatching(/^[0-9a-f]{128}$/), 'x-webhook-hmac-algorithm': 'sha512' });
    const row = await t.db('whatsapp_messages').where({ provider_message_id: messageId }).first();
    expect(row).toMatchObject({ direction: 'in', phone: from, purpose: 'text', status: 'received', processed_at: null });
    expect(row.payload).toMatchObject({ type: 'message', kind: 'text', text: '1', from: from.slice(1), name: 'Aigerim', phoneNumberId: 'waha:cafe' });
  });

  test("a bare number quoting our numbered request is stored as the tap on that choice; anything else stays text", async () => {
    const manager = testPhone();
    const request = buttonsMessage(manager, {
      body: 'New booking: Table 5, Sat 19:30',
      buttons: [
        { id: 'APPROVE_BOOKING:42', title: 'Approve' },
        { id: 'REJECT_BOOKING:42', title: 'Reject' },
      ],
    });
    // As a WAHA channel sends it: the numbered text out, the rendered message kept as the row's payload.
    const client = createWahaClient({ baseUrl: waha.url, session: 'cafe', apiKey: SECRETS.wahaKey });
    const { row } = await claimOutbound(t.db, { idempotencyKey: `test:numbered:${manager}`, phone: manager, purpose: 'managerRequest', payload: request }, { status: 'sending', leaseMs: 60_000 });
    const { messageId } = await client.sendText(manager, asNumberedText(request)).finally(() => client.close());
    await markOutboundSent(t.db, row.id, messageId);
    expect(waha.sent.at(-1)!.text).toBe('New booking: Table 5, Sat 19:30\n\n1️⃣ Approve\n2️⃣ Reject');

    const stored = async (reply: Awaited<ReturnType<typeof waha.receiveText>>) =>
      (await t.db('whatsapp_messages').where({ provider_message_id: reply.messageId }).first()).payload;
    expect(await stored(await waha.receiveText('cafe', manager, ' 2. ', { replyTo: messageId }))).toMatchObject({
      kind: 'button',
      buttonId: 'REJECT_BOOKING:42',
      text: 'Reject',
      contextId: messageId,
    });
    expect(await stored(await waha.receiveText('cafe', manager, '1', { replyTo: messageId }))).toMatchObject({ kind: 'button', buttonId: 'APPROVE_BOOKING:42' });
    for (const [text, replyTo] of [['3', messageId], ['1 please', messageId], ['1', undefined]] as const) {
      expect(await stored(await waha.receiveText('cafe', manager, text, { replyTo }))).toMatchObject({ kind: 'text', text });
    }
  });

  test('a bad signature and an unsigned delivery are refused when the account has a key; nothing stored', async () => {
    const body = JSON.stringify(message('cafe', testPhone(), 'false_x@c.us_BAD1', 'hi'));
    const bad = await post(body, { 'x-webhook-hmac': signWaha(body, 'not-the-key'), 'x-webhook-hmac-algorithm': 'sha512' });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ error: { code: 'unauthorized', message: 'the X-Webhook-Hmac header does not match the body' } });
    expect((await post(body)).status).toBe(401);
    expect((await post(`${body} `, { 'x-webhook-hmac': signWaha(body, SECRETS.hmacKey) })).status).toBe(401);
    expect((await post(body, { 'x-webhook-hmac': signWaha(body, SECRETS.hmacKey), 'x-webhook-hmac-algorithm': 'sha256' })).status).toBe(401);
    expect(await t.db('whatsapp_messages').where({ provider_message_id: 'false_x@c.us_BAD1' }).first()).toBeUndefined();
    const good = await post(body, { 'x-webhook-hmac': signWaha(body, SECRETS.hmacKey), 'x-webhook-hmac-algorithm': 'sha512' });
    expect(good.status).toBe(200);
  });

  test('an account without an HMAC key takes unsigned deliveries', async () => {
    const account = await call('post', '/admin-api/whatsapp-accounts', wahaAccount({ name: 'Unsigned', displayNumber: '+77010003434', session: 'unsigned', webhookHmacKey: undefined }));
    const from = testPhone();
    expect((await post(message('unsigned', from, 'false_u@c.us_U1', 'hello'))).status).toBe(200);
    expect(await t.db('whatsapp_messages').where({ provider_message_id: 'false_u@c.us_U1' }).first()).toMatchObject({ status: 'received', phone: from });
    await call('delete', `/admin-api/whatsapp-accounts/${account.body.id}`);
  });

  test('a session no account has: stored as foreign and never acted on; its session.status ignored', async () => {
    const from = testPhone();
    expect((await post(message('stranger', from, 'false_s@c.us_S1', 'hello'))).status).toBe(200);
    expect(await t.db('whatsapp_messages').where({ provider_message_id: 'false_s@c.us_S1' }).first()).toMatchObject({
      status: 'foreign',
      processed_at: expect.any(Date),
    });
    expect((await post({ event: 'session.status', session: 'stranger', payload: { status: 'WORKING' } })).status).toBe(200);
    expect(logged.some((l) => l.includes('WAHA delivery for a session no account has'))).toBe(true);
  });

  test('session.status: kept on the account; an older report after a newer one changes nothing', async () => {
    const signed = (body: unknown) => {
      const raw = JSON.stringify(body);
      return post(raw, { 'x-webhook-hmac': signWaha(raw, SECRETS.hmacKey) });
    };
    const now = Date.now();
    expect((await signed({ event: 'session.status', session: 'cafe', timestamp: now + 60_000, payload: { status: 'FAILED' } })).status).toBe(200);
    expect((await signed({ event: 'session.status', session: 'cafe', timestamp: now + 30_000, payload: { status: 'WORKING' } })).status).toBe(200);
    const account = await t.db('whatsapp_accounts').where({ id: wahaId }).first();
    expect(account).toMatchObject({ session_status: 'FAILED', session_status_at: new Date(now + 60_000) });
    await signed({ event: 'session.status', session: 'cafe', timestamp: now + 90_000, payload: { status: 'WORKING' } });
    expect((await t.db('whatsapp_accounts').where({ id: wahaId }).first()).session_status).toBe('WORKING');
  });

  test('not a WAHA event: 400 in the one shape; other events acknowledged and not stored', async () => {
    const res = await post('not json');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('bad_request');
    const raw = JSON.stringify({ event: 'presence.update', session: 'cafe', payload: {} });
    expect((await post(raw, { 'x-webhook-hmac': signWaha(raw, SECRETS.hmacKey) })).status).toBe(200);
  });
});

describe('whatever a client sends', () => {
  /** Never a 5xx (nothing is down here), every 4xx in the one error shape. */
  function expectWellFormed(res: { status: number; body: unknown; text: string }, what: string) {
    if (res.status >= 500) throw new Error(`${what} answered ${res.status}: ${res.text}`);
    if (res.status >= 400) expect(res.body).toEqual({ error: { code: expect.any(String), message: expect.any(String), ...((res.body as { error: object }).error && 'details' in (res.body as { error: object }).error && { details: expect.anything() }) } });
  }
  const field = fc.oneof(fc.string(), fc.constantFrom('', '\u0000', '\ud800', 'x'.repeat(3000), '+77011234567', 'http://127.0.0.1:1', 'a b'), fc.integer(), fc.constant(null), fc.boolean());
  const accountBody = fc.record(
    {
      provider: fc.oneof(fc.constantFrom('cloud_api', 'waha'), fc.string()),
      name: field,
      displayNumber: field,
      phoneNumberId: field,
      accessToken: field,
      baseUrl: field,
      session: field,
      apiKey: field,
      webhookHmacKey: field,
    },
    { requiredKeys: [] },
  );

  test('the accounts routes', async () => {
    await fc.assert(
      fc.asyncProperty(accountBody, fc.constantFrom('post', 'patch', 'test'), async (body, route) => {
        const res =
          route === 'post'
            ? await supertest(base).post('/admin-api/whatsapp-accounts').set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`).send(body)
            : route === 'patch'
              ? await supertest(base).patch(`/admin-api/whatsapp-accounts/${wahaId}`).set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`).send(body)
              : await supertest(base).post(`/admin-api/whatsapp-accounts/${cloudId}/test`).set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`).send({ phone: body.displayNumber, text: body.name });
        answered.push(res.text);
        expectWellFormed(res, `${route} ${JSON.stringify(body)}`);
      }),
      { seed: 20261129, numRuns: 150 },
    );
  });

  test('the WAHA webhook, for a session with no key', async () => {
    const account = await call('post', '/admin-api/whatsapp-accounts', wahaAccount({ name: 'Fuzz', displayNumber: '+77010005656', session: 'fuzz', webhookHmacKey: undefined }));
    const payload = fc.record(
      {
        id: field,
        from: fc.oneof(field, fc.constantFrom('77011234567@c.us', '1@g.us')),
        fromMe: field,
        body: field,
        hasMedia: field,
        ack: fc.oneof(fc.integer({ min: -2, max: 5 }), field),
        ackName: field,
        status: field,
        timestamp: fc.oneof(fc.double(), fc.integer()),
        replyTo: fc.oneof(fc.record({ id: field }), field),
      },
      { requiredKeys: [] },
    );
    const envelope = fc.record(
      {
        event: fc.oneof(fc.constantFrom('message', 'message.ack', 'session.status'), fc.string()),
        session: fc.oneof(fc.constant('fuzz'), field),
        timestamp: fc.oneof(fc.double(), fc.integer(), fc.constant(1e300)),
        payload: fc.oneof(payload, field),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(envelope.map((e) => JSON.stringify(e)), fc.string()), async (raw) => {
        const res = await supertest(base).post('/api/waha/webhook').set('content-type', 'application/json').send(raw);
        expectWellFormed(res, raw);
      }),
      { seed: 20261129, numRuns: 200 },
    );
    await call('delete', `/admin-api/whatsapp-accounts/${account.body.id}`);
  });
});

test('no credential appears in any answer or log line', async () => {
  await waha.settled();
  expect(answered.length).toBeGreaterThan(30);
  expect(logged.length).toBeGreaterThan(30);
  for (const secret of Object.values(SECRETS)) {
    expect(answered.filter((text) => text.includes(secret))).toEqual([]);
    expect(logged.filter((line) => line.includes(secret))).toEqual([]);
  }
});

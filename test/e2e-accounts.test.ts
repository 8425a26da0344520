/**
 * Every restaurant its own WhatsApp (#12), end to end: the real API, worker and webhook inbox
 * (runtime/system.ts) with two restaurants on two Cloud API numbers, one on a WAHA session and
 * one on the default number from the environment, in one run. The Cloud API numbers are fake
 * Graph APIs behind one origin (as Meta serves every number from graph.facebook.com); the WAHA
 * session is the fake WAHA. Everything travels over HTTP, webhooks signed.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { WAHA_WEBHOOK_PATH } from '../api/routes/wahaWebhook';
import { WHATSAPP_WEBHOOK_PATH } from '../api/routes/whatsappWebhook';
import { actionId } from '../domain/actions';
import { phoneDigits } from '../domain/phone';
import { startFakeGraphApi, type FakeGraphApi } from '../sandbox/graph';
import { startFakeWaha, type FakeWaha } from '../sandbox/waha';
import { createRestaurantFixture, eventually, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { startTestSystem, type TestSystem } from './helpers/system';
import { TEST_PAYLOAD_KEYS } from './helpers/temporal';

const DEFAULT = { phoneNumberId: '100000000000001', token: 'default-graph-token', display: '15550001111', appSecret: 'default-app-secret' };
// Number A has an app of its own (its own secret); number B is in the default number's app.
const A = { phoneNumberId: '100000000000002', token: 'token-of-number-a', display: '77020002222', appSecret: 'app-secret-of-a' };
const B = { phoneNumberId: '100000000000003', token: 'token-of-number-b', display: '77020003333', appSecret: DEFAULT.appSecret };
const W = { session: 'cafe', display: '77020004444', apiKey: 'waha-api-key-of-cafe', hmacKey: 'waha-hmac-key-of-cafe' };
const SECRETS = [DEFAULT.token, DEFAULT.appSecret, A.token, A.appSecret, B.token, W.apiKey, W.hmacKey];

let ts: TestSystem;
let proxy: http.Server;
const fakes: Record<'default' | 'a' | 'b', FakeGraphApi> = {} as never;
let waha: FakeWaha;
const restaurants: Record<'default' | 'a' | 'b' | 'w', RestaurantFixture> = {} as never;
const accountIds: Record<'a' | 'b' | 'w', number> = {} as never;
const answered: string[] = [];
/** Every line the system logged, at its most talkative level. */
const logged: string[] = [];

/** Meta's one origin for every number: a request goes to the fake of the phone_number_id in its path. */
async function startGraphOrigin(): Promise<string> {
  proxy = http.createServer((req, res) => {
    const id = (req.url ?? '').split('/')[2];
    const target = id === A.phoneNumberId ? fakes.a : id === B.phoneNumberId ? fakes.b : fakes.default;
    const forward = http.request(`${target.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${ts.system.apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(path.startsWith('/admin-api') && { authorization: `Bearer ${ts.adminToken}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  answered.push(text);
  return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
}

beforeAll(async () => {
  const start = (n: typeof A) => startFakeGraphApi({ accessToken: n.token, phoneNumberId: n.phoneNumberId, displayPhoneNumber: n.display });
  [fakes.default, fakes.a, fakes.b] = await Promise.all([start(DEFAULT), start(A), start(B)]);
  waha = await startFakeWaha({ apiKey: W.apiKey, sessions: [{ name: W.session, me: W.display }] });
  ts = await startTestSystem('e2e-accounts', {
    WHATSAPP_API_URL: await startGraphOrigin(),
    WHATSAPP_ACCESS_TOKEN: DEFAULT.token,
    WHATSAPP_PHONE_NUMBER_ID: DEFAULT.phoneNumberId,
    WHATSAPP_APP_SECRET: DEFAULT.appSecret,
    WHATSAPP_VERIFY_TOKEN: 'e2e-accounts-verify-token',
    WHATSAPP_BOT_NUMBER: DEFAULT.display,
    WHATSAPP_CREDENTIALS_KEYS: TEST_PAYLOAD_KEYS,
    // The default pace (20 a minute) is for a real phone; whatsapp-rate-limit.test.ts checks the pacing.
    WAHA_MAX_MESSAGES_PER_MINUTE: '6000',
  }, { logger: pino({ level: 'trace' }, { write: (line: string) => void logged.push(line) }) });
  const webhook = `${ts.system.apiUrl}${WHATSAPP_WEBHOOK_PATH}`;
  for (const [fake, n] of [[fakes.default, DEFAULT], [fakes.a, A], [fakes.b, B]] as const) fake.configureWebhook({ url: webhook, appSecret: n.appSecret });
  waha.configureWebhook({ url: `${ts.system.apiUrl}${WAHA_WEBHOOK_PATH}`, hmacKey: W.hmacKey, retries: 5 });

  const created = await Promise.all([
    api('POST', '/admin-api/whatsapp-accounts', { provider: 'cloud_api', name: 'Number A', displayNumber: `+${A.display}`, phoneNumberId: A.phoneNumberId, accessToken: A.token, appSecret: A.appSecret }),
    api('POST', '/admin-api/whatsapp-accounts', { provider: 'cloud_api', name: 'Number B', displayNumber: `+${B.display}`, phoneNumberId: B.phoneNumberId, accessToken: B.token }),
    api('POST', '/admin-api/whatsapp-accounts', { provider: 'waha', name: 'Cafe WAHA', displayNumber: `+${W.display}`, baseUrl: waha.url, session: W.session, apiKey: W.apiKey, webhookHmacKey: W.hmacKey }),
  ]);
  for (const c of created) expect(c.status).toBe(201);
  [accountIds.a, accountIds.b, accountIds.w] = created.map((c) => c.body.id as number);
  for (const key of ['default', 'a', 'b', 'w'] as const) {
    restaurants[key] = await createRestaurantFixture(ts.t.db);
    if (key !== 'default') {
      const patched = await api('PATCH', `/admin-api/restaurants/${restaurants[key].restaurantId}`, { whatsappAccountId: accountIds[key] });
      expect(patched.status).toBe(200);
    }
  }
});

afterAll(async () => {
  await Promise.all([...Object.values(fakes).map((f) => f?.settled()), waha?.settled()]);
  await ts?.stop();
  await Promise.all([...Object.values(fakes).map((f) => f?.close()), waha?.close()]);
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
});

let slot = 0;
async function book(r: RestaurantFixture) {
  const startsAt = new Date(Date.now() + 2 * 86_400_000 + ++slot * 3 * 3_600_000).toISOString();
  const res = await api('POST', '/api/bookings', { restaurantId: r.restaurantId, tableId: r.tableId, startsAt, partySize: 2 });
  expect(res.status).toBe(201);
  return res.body as { id: number; claimText: string; whatsappUrl: string };
}

const bookingStatus = async (id: number) => (await ts.t.db('bookings').where({ id }).first('status')).status as string;
/** Every message a fake Graph API accepted that names the booking (its buttons or its text). */
const graphMessagesOf = (fake: FakeGraphApi, to: string) => fake.accepted.filter((m) => m.to === phoneDigits(to));
const wahaMessagesTo = (to: string) => waha.sent.filter((m) => m.chatId === `${phoneDigits(to)}@c.us`);

describe('two restaurants on two Cloud API numbers, one on WAHA, one on the default number', () => {
  test('the claim link carries the restaurant’s own number', async () => {
    for (const [key, display] of [['default', DEFAULT.display], ['a', A.display], ['b', B.display], ['w', W.display]] as const) {
      const b = await book(restaurants[key]);
      expect(b.whatsappUrl).toBe(`https://wa.me/${display}?text=${encodeURIComponent(b.claimText)}`);
    }
  });

  test.each([
    ['a', A],
    ['b', B],
  ] as const)('restaurant %s: every message of a booking comes from its number, and a manager’s tap there decides', async (key, n) => {
    const r = restaurants[key];
    const fake = fakes[key];
    const others = Object.entries(fakes).filter(([k]) => k !== key).map(([, f]) => f);
    const b = await book(r);
    const guest = testPhone();
    expect((await fake.receiveText(guest, b.claimText)).delivery.status).toBe(200);
    await eventually(async () => r.managers.every((m) => graphMessagesOf(fake, m.phone).length > 0) && graphMessagesOf(fake, guest).length > 0, Boolean);
    const request = graphMessagesOf(fake, r.managers[0].phone).at(-1)!;
    expect((await fake.tapButton(r.managers[0].phone, actionId('approve', b.id), { contextId: request.id })).delivery.status).toBe(200);
    await eventually(() => bookingStatus(b.id), (s) => s === 'APPROVED');
    // The guest's "approved" and the managers' acknowledgement, from the same number.
    await eventually(async () => graphMessagesOf(fake, guest).length, (count) => count >= 2);
    await eventually(async () => graphMessagesOf(fake, r.managers[0].phone).length, (count) => count >= 2);
    for (const other of others) {
      for (const phone of [guest, ...r.managers.map((m) => m.phone), r.owner.phone]) expect(graphMessagesOf(other, phone)).toEqual([]);
    }
    expect(wahaMessagesTo(guest)).toEqual([]);
    // Recorded by account: each outbound row of the booking, and the guest's claim.
    const rows = await ts.t.db('whatsapp_messages').where({ booking_id: b.id }).select('direction', 'account_id');
    expect(rows.length).toBeGreaterThanOrEqual(4);
    expect(new Set(rows.map((row) => row.account_id))).toEqual(new Set([accountIds[key]]));
    expect(fake.requests.every((req) => req.path.includes(`/${n.phoneNumberId}/messages`) && req.authorized)).toBe(true);
  });

  test('a tap delivered to another number’s webhook does nothing', async () => {
    const r = restaurants.a;
    const b = await book(r);
    const guest = testPhone();
    await fakes.a.receiveText(guest, b.claimText);
    const manager = r.managers[0].phone;
    const outbound = () => ts.t.db('whatsapp_messages').where({ booking_id: b.id, direction: 'out' }).whereNotNull('provider_message_id').orderBy('id').pluck('phone');
    // The guest told to wait, and both managers asked.
    const before = await eventually(outbound, (sent) => sent.length === 3);
    // A manager of restaurant A, approving A's booking through number B's and the default number's webhooks.
    const taps = [await fakes.b.tapButton(manager, actionId('approve', b.id)), await fakes.default.tapButton(manager, actionId('approve', b.id))];
    for (const tap of taps) expect(tap.delivery.status).toBe(200);
    await eventually(
      async () => ts.t.db('whatsapp_messages').whereIn('provider_message_id', taps.map((tap) => tap.messageId)).whereNotNull('processed_at').count({ n: '*' }).first(),
      (row) => Number(row?.n) === 2,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await bookingStatus(b.id)).toBe('PENDING');
    expect(await outbound()).toEqual(before);
    const arrivedOn = await ts.t.db('whatsapp_messages').whereIn('provider_message_id', taps.map((tap) => tap.messageId)).orderBy('id').pluck('account_id');
    expect(arrivedOn).toEqual([accountIds.b, null]);
  });

  test('a delivery for a number of no account is stored as foreign and not acted on', async () => {
    const stranger = await startFakeGraphApi({ accessToken: 'x', phoneNumberId: '199999999999999', webhook: { url: `${ts.system.apiUrl}${WHATSAPP_WEBHOOK_PATH}`, appSecret: DEFAULT.appSecret } });
    try {
      const { messageId, delivery } = await stranger.receiveText(testPhone(), '/help');
      expect(delivery.status).toBe(200);
      expect(await ts.t.db('whatsapp_messages').where({ provider_message_id: messageId }).first('status', 'account_id')).toEqual({ status: 'foreign', account_id: null });
    } finally {
      await stranger.close();
    }
  });

  test("a delivery for number A signed with another app's secret is refused", async () => {
    fakes.a.configureWebhook({ url: `${ts.system.apiUrl}${WHATSAPP_WEBHOOK_PATH}`, appSecret: DEFAULT.appSecret });
    try {
      expect((await fakes.a.receiveText(testPhone(), '/help')).delivery.status).toBe(401);
    } finally {
      fakes.a.configureWebhook({ url: `${ts.system.apiUrl}${WHATSAPP_WEBHOOK_PATH}`, appSecret: A.appSecret });
    }
  });

  test('the default number is unchanged: its restaurant’s messages come from it', async () => {
    const r = restaurants.default;
    const b = await book(r);
    const guest = testPhone();
    await fakes.default.receiveText(guest, b.claimText);
    await eventually(async () => r.managers.every((m) => graphMessagesOf(fakes.default, m.phone).length > 0), Boolean);
    expect(new Set(await ts.t.db('whatsapp_messages').where({ booking_id: b.id }).pluck('account_id'))).toEqual(new Set([null]));
  });
});

describe('WAHA end to end', () => {
  test('claim, the manager replies 1 quoting the request, the guest is confirmed; acks recorded', async () => {
    const r = restaurants.w;
    const b = await book(r);
    const guest = testPhone();
    expect((await waha.receiveText(W.session, guest, b.claimText)).delivery.status).toBe(200);
    await eventually(async () => r.managers.every((m) => wahaMessagesTo(m.phone).length > 0) && wahaMessagesTo(guest).length > 0, Boolean);
    const request = wahaMessagesTo(r.managers[0].phone).at(-1)!;
    expect(request.text).toContain('1️⃣ Approve');
    expect(request.text.endsWith("Reply 1 to approve, 2 to reject, 3 for the guest's number.")).toBe(true);
    const reply = await waha.receiveText(W.session, r.managers[0].phone, '1', { replyTo: request.id });
    expect(reply.delivery.status).toBe(200);
    await eventually(() => bookingStatus(b.id), (s) => s === 'APPROVED');
    await eventually(async () => wahaMessagesTo(guest).length, (n) => n >= 2);
    for (const fake of Object.values(fakes)) expect(graphMessagesOf(fake, guest)).toEqual([]);
    // The manager's acknowledgement may still be on its way: a send in flight has no provider id yet.
    const rows = await eventually(
      () => ts.t.db('whatsapp_messages').where({ booking_id: b.id, direction: 'out' }).select('provider_message_id', 'account_id', 'status'),
      (found) => found.every((row) => row.provider_message_id !== null),
    );
    expect(new Set(rows.map((row) => row.account_id))).toEqual(new Set([accountIds.w]));
    // WAHA's own ids, and its acks (SERVER → DEVICE → READ) as statuses.
    expect(rows.map((row) => row.provider_message_id).sort()).toEqual(
      waha.sent.filter((m) => rows.some((row) => row.provider_message_id === m.id)).map((m) => m.id).sort(),
    );
    await eventually(async () => (await ts.t.db('whatsapp_messages').where({ provider_message_id: request.id }).first('status')).status, (s) => s === 'read');
  });

  test('a WAHA outage delays the messages, never loses them', async () => {
    const r = restaurants.w;
    const b = await book(r);
    const guest = testPhone();
    waha.fail({ status: 503, times: 3 });
    expect((await waha.receiveText(W.session, guest, b.claimText)).delivery.status).toBe(200);
    // The guest told to wait and both managers asked, each once, once WAHA is back.
    const sent = await eventually(
      () => ts.t.db('whatsapp_messages').where({ booking_id: b.id, direction: 'out' }).whereNotNull('provider_message_id').pluck('provider_message_id'),
      (ids) => ids.length === 3,
      60_000,
    );
    expect(waha.sent.filter((m) => sent.includes(m.id))).toHaveLength(3);
    expect(waha.requests.filter((req) => req.path === '/api/sendText' && req.status === 503).length).toBeGreaterThan(0);
  });

  test('a bare number: the tap on the one request awaiting it; with two awaiting, which booking; the guest’s cancel question the same', async () => {
    const r = await createRestaurantFixture(ts.t.db);
    expect((await api('PATCH', `/admin-api/restaurants/${r.restaurantId}`, { whatsappAccountId: accountIds.w })).status).toBe(200);
    const manager = r.managers[0].phone;
    const requestsTo = (bookingId: number) => wahaMessagesTo(manager).filter((m) => m.text.includes(`#${bookingId}`));
    const claim = async () => {
      const b = await book(r);
      const guest = testPhone();
      await waha.receiveText(W.session, guest, b.claimText);
      await eventually(async () => requestsTo(b.id).length, (n) => n === 1);
      return { ...b, guest };
    };
    const first = await claim();
    const second = await claim();

    const sentBefore = wahaMessagesTo(manager).length;
    await waha.receiveText(W.session, manager, '1');
    const which = await eventually(async () => wahaMessagesTo(manager).slice(sentBefore), (m) => m.length === 1);
    expect(which[0].text).toContain('Which booking do you mean?');
    expect(which[0].text).toContain(`#${first.id}`);
    expect(which[0].text).toContain(`#${second.id}`);
    expect([await bookingStatus(first.id), await bookingStatus(second.id)]).toEqual(['PENDING', 'PENDING']);

    // Quoting the first request decides it; then the second is the only one awaiting: a bare 2 rejects it.
    await waha.receiveText(W.session, manager, '1', { replyTo: requestsTo(first.id)[0].id });
    await eventually(() => bookingStatus(first.id), (s) => s === 'APPROVED');
    await waha.receiveText(W.session, manager, '2');
    await eventually(() => bookingStatus(second.id), (s) => s === 'REJECTED');

    // The guest of the approved booking (told to wait, then approved): /cancel asks with numbered choices, a bare 1 cancels.
    const before = await eventually(async () => wahaMessagesTo(first.guest).length, (n) => n === 2);
    await waha.receiveText(W.session, first.guest, '/cancel');
    const question = await eventually(async () => wahaMessagesTo(first.guest).slice(before), (m) => m.length === 1);
    // A +7 701 guest reads Russian.
    expect(question[0].text.endsWith('Ответьте: 1 — отменить бронь, 2 — оставить.')).toBe(true);
    await waha.receiveText(W.session, first.guest, '1');
    await eventually(() => bookingStatus(first.id), (s) => s === 'CANCELLED');
  });

  test('a stopped session holds the messages; once started again through the admin API they go out, once each', async () => {
    const r = restaurants.w;
    const b = await book(r);
    const guest = testPhone();
    expect((await api('POST', `/admin-api/whatsapp-accounts/${accountIds.w}/session/stop`)).body).toMatchObject({ status: 'STOPPED' });
    // WhatsApp Web still delivers what people write to the phone; WAHA passes it on once it runs.
    expect((await waha.receiveText(W.session, guest, b.claimText)).delivery.status).toBe(200);
    const outbound = () => ts.t.db('whatsapp_messages').where({ booking_id: b.id, direction: 'out' }).select('status', 'provider_message_id', 'error_title');
    // The guest's "wait" and the first manager's request (the managers are asked one after another).
    const held = await eventually(outbound, (rows) => rows.length === 2 && rows.every((row) => row.status === 'retrying'));
    expect(held.every((row) => row.provider_message_id === null && /422/.test(row.error_title))).toBe(true);
    expect((await api('POST', `/admin-api/whatsapp-accounts/${accountIds.w}/session/start`)).body).toMatchObject({ status: 'WORKING' });
    // A session that is not working is retried a minute later (whatsapp/waha/client.ts).
    const sent = await eventually(outbound, (rows) => rows.length === 3 && rows.every((row) => row.provider_message_id !== null), 90_000);
    expect(waha.sent.filter((m) => sent.some((row) => row.provider_message_id === m.id))).toHaveLength(3);
  }, 120_000);

  test("a delivery not signed with the session's HMAC key is refused, and stores nothing", async () => {
    const body = JSON.stringify({
      event: 'message',
      session: W.session,
      payload: { id: 'false_77010001234@c.us_FORGED', timestamp: Math.floor(Date.now() / 1000), from: '77010001234@c.us', fromMe: false, body: '1', hasMedia: false },
    });
    const post = (hmac?: string) =>
      fetch(`${ts.system.apiUrl}${WAHA_WEBHOOK_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(hmac && { 'x-webhook-hmac': hmac, 'x-webhook-hmac-algorithm': 'sha512' }) },
        body,
      });
    expect((await post(createHmac('sha512', 'not-the-key').update(body).digest('hex'))).status).toBe(401);
    expect((await post()).status).toBe(401);
    expect(await ts.t.db('whatsapp_messages').where({ provider_message_id: 'false_77010001234@c.us_FORGED' }).first()).toBeUndefined();
  });

  test('no credential appears in any API answer or log line', () => {
    expect(logged.length).toBeGreaterThan(100);
    const all = [...answered, ...logged].join('\n');
    for (const secret of SECRETS) expect(all).not.toContain(secret);
  });
});

/** The WAHA client against the fake WAHA over real HTTP: sendText, sessions, QR, and WAHA's refusals in the retry model. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeWaha, type FakeWaha } from '../sandbox/waha';
import { isWhatsAppSendError, type WhatsAppSendError } from '../whatsapp/errors';
import { chatIdOf, createWahaClient } from '../whatsapp/waha/client';

const API_KEY = 'waha-api-key-0123456789';
let waha: FakeWaha;
beforeEach(async () => {
  waha = await startFakeWaha({ apiKey: API_KEY, sessions: [{ name: 'bistro', me: '15550003333' }, { name: 'fresh', paired: false }], acks: false });
});
afterEach(() => waha.close());

const client = (o: { session?: string; apiKey?: string } = {}) =>
  createWahaClient({ baseUrl: waha.url, session: o.session ?? 'bistro', apiKey: 'apiKey' in o ? o.apiKey : API_KEY, timeoutMs: 2_000 });

async function refusal(p: Promise<unknown>): Promise<WhatsAppSendError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isWhatsAppSendError(err)) throw new Error(`expected a WhatsAppSendError, got ${String(err)}`);
  return err;
}

test('sendText: the session, the chat id of the number and the text, with the API key; the id its acks will name', async () => {
  const c = client();
  try {
    const { messageId } = await c.sendText('+7 701 123 45 67', 'Hello', { replyTo: 'false_77011234567@c.us_QQ' });
    expect(waha.sent).toHaveLength(1);
    expect(waha.sent[0]).toMatchObject({ id: messageId, session: 'bistro', chatId: '77011234567@c.us', text: 'Hello', replyTo: 'false_77011234567@c.us_QQ' });
    expect(messageId).toMatch(/^true_77011234567@c\.us_[0-9A-F]{20}$/);
    expect(waha.requests[0]).toMatchObject({ method: 'POST', path: '/api/sendText', authorized: true, status: 201 });
    expect(chatIdOf('+15550001111')).toBe('15550001111@c.us');
  } finally {
    await c.close();
  }
});

test("sendText on the NOWEB engine: the id serialized from Baileys' key, as WAHA's events name it", async () => {
  const noweb = await startFakeWaha({ sessions: [{ name: 'bistro' }], engine: 'NOWEB', acks: false });
  const c = createWahaClient({ baseUrl: noweb.url, session: 'bistro' });
  try {
    const { messageId } = await c.sendText('+77011234567', 'Hi');
    expect(messageId).toBe(noweb.sent[0]!.id);
  } finally {
    await c.close();
    await noweb.close();
  }
});

test("session status, stop and start; the session's config (its webhook HMAC key) is never passed on", async () => {
  waha.configureWebhook({ url: 'http://127.0.0.1:9/unused', hmacKey: 'hmac-key-never-shown', retries: 0 });
  const c = client();
  try {
    const info = await c.session();
    expect(info).toEqual({ name: 'bistro', status: 'WORKING', me: { id: '15550003333@c.us', pushName: 'Fake Restaurant' } });
    expect(JSON.stringify(info)).not.toContain('hmac-key-never-shown');
    expect(await c.stop()).toMatchObject({ status: 'STOPPED' });
    expect(waha.status('bistro')).toBe('STOPPED');
    // A stopped session does not send: WAHA's 422, retried later rather than given up.
    const stopped = await refusal(c.sendText('+77011234567', 'x'));
    expect(stopped).toMatchObject({ httpStatus: 422, retryable: true, reason: 'session', retryAfterMs: 60_000 });
    expect(await c.start()).toMatchObject({ status: 'WORKING' });
    await expect(c.sendText('+77011234567', 'x')).resolves.toMatchObject({ messageId: expect.any(String) });
    expect(waha.requests.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['GET /api/sessions/bistro', 'POST /api/sessions/bistro/stop', 'POST /api/sessions/bistro/start']),
    );
  } finally {
    await c.close();
  }
});

test('QR code: the PNG and the raw value of a session waiting for one; a working session has none (422)', async () => {
  const fresh = client({ session: 'fresh' });
  const working = client();
  try {
    expect(await fresh.session()).toMatchObject({ status: 'SCAN_QR_CODE', me: null });
    const { png } = await fresh.qr('image');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(await fresh.qr('raw')).toEqual({ value: expect.stringMatching(/^2@fake-qr-fresh-\d+$/) });
    expect(waha.requests.filter((r) => r.path.startsWith('/api/fresh/auth/qr')).map((r) => r.path)).toEqual([
      '/api/fresh/auth/qr?format=image',
      '/api/fresh/auth/qr?format=raw',
    ]);
    expect(await refusal(working.qr('image'))).toMatchObject({ httpStatus: 422 });
  } finally {
    await fresh.close();
    await working.close();
  }
});

test("WAHA's refusals: a wrong key and an unknown session are permanent, a 5xx and an unreachable server retryable; the key never in an error", async () => {
  const wrongKey = client({ apiKey: 'not-the-key' });
  const noKey = client({ apiKey: undefined });
  const unknown = client({ session: 'nobody' });
  const c = client();
  try {
    for (const err of [await refusal(wrongKey.sendText('+77011234567', 'x')), await refusal(noKey.session())]) {
      expect(err).toMatchObject({ httpStatus: 401, retryable: false, reason: 'token' });
      expect(`${err.message} ${err.title}`).not.toContain(API_KEY);
    }
    expect(waha.requests.filter((r) => !r.authorized)).toHaveLength(2);
    expect(await refusal(unknown.sendText('+77011234567', 'x'))).toMatchObject({ httpStatus: 404, retryable: false, reason: 'session' });
    waha.fail({ status: 503, times: 1 });
    expect(await refusal(c.sendText('+77011234567', 'x'))).toMatchObject({ httpStatus: 503, retryable: true, reason: 'server' });
    await expect(c.sendText('+77011234567', 'x')).resolves.toBeDefined();
    expect(waha.sent).toHaveLength(1);
  } finally {
    await Promise.all([wrongKey.close(), noKey.close(), unknown.close(), c.close()]);
  }

  // A port nobody listens on.
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((r) => closed.close(() => r()));
  const gone = createWahaClient({ baseUrl: `http://127.0.0.1:${port}`, session: 'bistro', apiKey: API_KEY, timeoutMs: 1_000 });
  try {
    const err = await refusal(gone.sendText('+77011234567', 'x'));
    expect(err).toMatchObject({ retryable: true, reason: 'network' });
    expect(err.message).not.toContain(API_KEY);
  } finally {
    await gone.close();
  }
});

test('a base URL with a trailing slash makes the same paths', async () => {
  const c = createWahaClient({ baseUrl: `${waha.url}/`, session: 'bistro', apiKey: API_KEY });
  try {
    await c.session();
    expect(waha.requests.at(-1)!.path).toBe('/api/sessions/bistro');
  } finally {
    await c.close();
  }
});

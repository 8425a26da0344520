/**
 * Temporal payload encryption (temporal/codec.ts): the codec itself, the keys, and on the dev
 * server with the real system, that a booking's history holds no guest phone or name while
 * the client and the /codec endpoint still read them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { uiOriginsOf } from '../api/routes/codec';
import { loadConfig } from '../config';
import { formatPayloadKeys, parsePayloadKeys, resolvePayloadKeys, type PayloadKey } from '../config/payloadKeys';
import { bookingHandle } from '../temporal/bookingClient';
import { ENCRYPTED_ENCODING, EncryptionCodec, METADATA_ENCRYPTION_KEY_ID } from '../temporal/codec';
import { statusQuery } from '../workflows/definitions';
import { createRestaurantFixture, eventually, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { startTestSystem, type TestSystem } from './helpers/system';
import { uniqueId, withWorker } from './helpers/temporal';
import { failWith } from './workflows/smoke';

const key = (id: string, fill: number): PayloadKey => ({ id, key: Buffer.alloc(32, fill) });
const payloadOf = (value: unknown) => defaultPayloadConverter.toPayload(value)!;
const valueOf = (payload: Payload) => defaultPayloadConverter.fromPayload(payload);
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString();

describe('EncryptionCodec', () => {
  const guest = { phone: '+77012345678', name: 'Zhanar' };

  test('round trip: the ciphertext names the key and hides the value', async () => {
    const codec = new EncryptionCodec([key('k1', 1)]);
    const [encrypted] = await codec.encode([payloadOf(guest)]);
    expect(text(encrypted!.metadata![METADATA_ENCODING_KEY])).toBe(ENCRYPTED_ENCODING);
    expect(text(encrypted!.metadata![METADATA_ENCRYPTION_KEY_ID])).toBe('k1');
    expect(Object.keys(encrypted!.metadata!).sort()).toEqual([METADATA_ENCODING_KEY, METADATA_ENCRYPTION_KEY_ID].sort());
    expect(Buffer.from(encrypted!.data!).includes(guest.phone)).toBe(false);
    const [decoded] = await codec.decode([encrypted!]);
    expect(valueOf(decoded!)).toEqual(guest);
    expect(text(decoded!.metadata![METADATA_ENCODING_KEY])).toBe('json/plain');
  });

  test('the same value encrypts differently each time (random IV)', async () => {
    const codec = new EncryptionCodec([key('k1', 1)]);
    const [a, b] = await codec.encode([payloadOf(guest), payloadOf(guest)]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  test('rotation: the first key encrypts, an older one still decrypts', async () => {
    const [old] = await new EncryptionCodec([key('old', 1)]).encode([payloadOf(guest)]);
    const rotated = new EncryptionCodec([key('new', 2), key('old', 1)]);
    expect(valueOf((await rotated.decode([old!]))[0]!)).toEqual(guest);
    const [fresh] = await rotated.encode([payloadOf(guest)]);
    expect(text(fresh!.metadata![METADATA_ENCRYPTION_KEY_ID])).toBe('new');
    await expect(new EncryptionCodec([key('old', 1)]).decode([fresh!])).rejects.toThrow(
      'a payload is encrypted with key "new", which is not in TEMPORAL_PAYLOAD_KEYS (known: old)',
    );
  });

  test('tampered ciphertext, tag or key id is refused', async () => {
    const codec = new EncryptionCodec([key('k1', 1), key('k2', 2)]);
    const [encrypted] = await codec.encode([payloadOf(guest)]);
    const flipped = (at: number) => {
      const data = Buffer.from(encrypted!.data!);
      data[at] = data[at]! ^ 1;
      return { ...encrypted!, data };
    };
    const failedAuth = /failed authentication: it was altered or the key is wrong/;
    await expect(codec.decode([flipped(20)])).rejects.toThrow(failedAuth); // ciphertext
    await expect(codec.decode([flipped(encrypted!.data!.length - 1)])).rejects.toThrow(failedAuth); // tag
    await expect(codec.decode([flipped(0)])).rejects.toThrow(failedAuth); // IV
    const otherKey = { ...encrypted!, metadata: { ...encrypted!.metadata, [METADATA_ENCRYPTION_KEY_ID]: Buffer.from('k2') } };
    await expect(codec.decode([otherKey])).rejects.toThrow(failedAuth);
    await expect(codec.decode([{ ...encrypted!, data: Buffer.alloc(10) }])).rejects.toThrow(/truncated/);
  });

  test('unencrypted payloads (histories from before encryption) pass through unchanged', async () => {
    const codec = new EncryptionCodec([key('k1', 1)]);
    const plain = payloadOf(guest);
    const binary: Payload = { metadata: { [METADATA_ENCODING_KEY]: Buffer.from('binary/plain') }, data: Buffer.from([1, 2]) };
    const [a, b] = await codec.decode([plain, binary]);
    expect(a).toBe(plain);
    expect(b).toBe(binary);
  });
});

describe('TEMPORAL_PAYLOAD_KEYS', () => {
  const b64 = (fill: number, bytes = 32) => Buffer.alloc(bytes, fill).toString('base64');

  test('parses id:base64 pairs in order, the first one encrypting', () => {
    const config = loadConfig({ TEMPORAL_PAYLOAD_KEYS: `2026-11:${b64(2)}, 2026-01:${Buffer.alloc(32, 1).toString('base64url')}` });
    expect(config.TEMPORAL_PAYLOAD_KEYS).toEqual([key('2026-11', 2), key('2026-01', 1)]);
    expect(formatPayloadKeys(config.TEMPORAL_PAYLOAD_KEYS!)).toBe(`2026-11:${b64(2)},2026-01:${b64(1)}`);
  });

  test('refuses short keys, duplicate ids and missing ids without echoing key material', () => {
    const short = b64(3, 16);
    let message = '';
    try {
      loadConfig({ TEMPORAL_PAYLOAD_KEYS: `a:${short},a:${b64(4)},a:${b64(5)},${b64(6)},b:not base64!` });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('TEMPORAL_PAYLOAD_KEYS: key "a": must be 32 bytes in base64');
    expect(message).toContain('TEMPORAL_PAYLOAD_KEYS: key "a": the id is used twice');
    expect(message).toContain('TEMPORAL_PAYLOAD_KEYS: entry 4: expected <id>:<base64 key>');
    expect(message).toContain('TEMPORAL_PAYLOAD_KEYS: key "b": must be 32 bytes in base64');
    for (const secret of [short, b64(4), b64(5), b64(6)]) expect(message).not.toContain(secret);
  });

  test('TEMPORAL_UI_ORIGIN becomes bare origins; the embedded UI is allowed by either loopback name', () => {
    expect(loadConfig({ TEMPORAL_UI_ORIGIN: 'https://temporal.example/, http://10.0.0.5:8080/ui' }).TEMPORAL_UI_ORIGIN).toEqual([
      'https://temporal.example',
      'http://10.0.0.5:8080',
    ]);
    expect(() => loadConfig({ TEMPORAL_UI_ORIGIN: 'temporal.example' })).toThrow(/TEMPORAL_UI_ORIGIN\.0: /);
    expect(uiOriginsOf('http://127.0.0.1:8233')).toEqual(['http://127.0.0.1:8233', 'http://localhost:8233']);
    expect(uiOriginsOf('https://temporal.example')).toEqual(['https://temporal.example']);
  });

  describe('when unset', () => {
    let dataDir: string;
    beforeEach(() => {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-payload-keys-'));
    });
    afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

    test('npm start (embedded) generates one key into DATA_DIR (0600) and keeps it', () => {
      const config = { ...loadConfig({ DATA_DIR: dataDir }), dataDir };
      const first = resolvePayloadKeys(config);
      expect(first).toHaveLength(1);
      expect(first[0]!.key).toHaveLength(32);
      const file = path.join(dataDir, 'payload-keys');
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(parsePayloadKeys(fs.readFileSync(file, 'utf8').trim()).keys).toEqual(first);
      expect(resolvePayloadKeys(config)).toEqual(first);
    });

    test('a production process refuses to start, in one sentence', () => {
      const config = loadConfig({ DATABASE_URL: 'postgres://db.example/app', ADMIN_API_TOKEN: 'admin-token-0123456789', DATA_DIR: dataDir });
      expect(() => resolvePayloadKeys(config)).toThrow(/^TEMPORAL_PAYLOAD_KEYS is required when DATABASE_URL or TEMPORAL_ADDRESS is set/);
      expect(fs.readdirSync(dataDir)).toEqual([]);
    });
  });
});

describe('on the dev server, with the real system', () => {
  const UI_ORIGIN = 'http://temporal-ui.example:8080';
  const guestName = 'Zhanar Secretname';
  let ts: TestSystem;
  let r: RestaurantFixture;
  let phone: string;
  let bookingId: number;
  let history: temporal.api.history.v1.IHistory;

  const call = (p: string, init: RequestInit = {}) => fetch(`${ts.system.apiUrl}${p}`, init);
  const admin = { authorization: '' };

  beforeAll(async () => {
    ts = await startTestSystem('codec', { TEMPORAL_UI_ORIGIN: UI_ORIGIN });
    admin.authorization = `Bearer ${ts.adminToken}`;
    r = await createRestaurantFixture(ts.t.db);
    phone = testPhone();
    const created = await call('/api/bookings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        restaurantId: r.restaurantId,
        tableId: r.tableId,
        startsAt: new Date(Date.now() + 2 * 86_400_000).toISOString(),
        partySize: 2,
        guestName,
      }),
    });
    expect(created.status).toBe(201);
    bookingId = ((await created.json()) as { id: number }).id;
    const confirmed = await call(`/admin-api/booking/${bookingId}/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...admin },
      body: JSON.stringify({ phone, name: guestName }),
    });
    expect(await confirmed.json()).toEqual({ status: 'PENDING' });
    // Once the managers were notified, their phones and names have passed through the workflow too.
    history = await eventually(
      () => bookingHandle(ts.dev.client, bookingId).fetchHistory(),
      // Sends are local activities: done once the marker of notifyManagers is recorded.
      ({ events }) =>
        events!.some(
          (e) =>
            e.markerRecordedEventAttributes?.markerName === 'core_local_activity' &&
            Buffer.from(e.markerRecordedEventAttributes.details?.data?.payloads?.[0]?.data ?? []).toString().includes('"activity_type":"notifyManagers"'),
        ),
    );
  });

  afterAll(() => ts?.stop());

  /**
   * Every payload in the history, wherever it sits, but the search attributes (the server must
   * read them; they hold nothing personal) and sdk-core's own bookkeeping in markers (`patch-data`,
   * and `data`: a local activity's id, type and times, never its input or result).
   */
  const CLEAR_BY_DESIGN = new Set(['searchAttributes', 'patch-data', 'data']);
  function payloadsIn(node: unknown): Payload[] {
    if (!node || typeof node !== 'object' || node instanceof Uint8Array) return [];
    if ('metadata' in node && 'data' in node) return [node as Payload];
    return Object.entries(node).flatMap(([k, v]) => (CLEAR_BY_DESIGN.has(k) ? [] : payloadsIn(v)));
  }

  const claimPayloads = () =>
    history.events!.flatMap((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads ?? []);

  /** Every way the value could sit in a serialized history: as text, JSON-escaped, or inside base64 at any byte offset. */
  function encodingsOf(value: string): string[] {
    const bytes = Buffer.from(value);
    const base64At = (offset: number, alphabet: 'base64' | 'base64url') => {
      // Only the characters that depend on the value's bytes alone, whatever surrounds them.
      const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString(alphabet);
      const from = Math.ceil((8 * offset) / 6);
      const to = Math.floor((8 * (offset + bytes.length)) / 6);
      return encoded.slice(from, to);
    };
    const jsonEscaped = [...value].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    return [
      value,
      JSON.stringify(value).slice(1, -1),
      jsonEscaped,
      ...[0, 1, 2].flatMap((offset) => [base64At(offset, 'base64'), base64At(offset, 'base64url')]),
    ];
  }

  test("the raw history holds neither the guest's nor the managers' phones and names, in any encoding", () => {
    const binary = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    const json = historyToJSON(history);
    const people = [{ phone, name: guestName }, ...r.managers, r.owner];
    // E.164 and digits only (how WhatsApp writes numbers).
    const secrets = people.flatMap((p) => [p.phone, p.phone.slice(1), p.name]);
    for (const secret of secrets) {
      for (const form of encodingsOf(secret)) {
        expect({ secret, form, inBinary: binary.includes(form) }).toEqual({ secret, form, inBinary: false });
        expect({ secret, form, inJson: json.includes(form) }).toEqual({ secret, form, inJson: false });
      }
    }
    // Not vacuous: the claim is in there (an Update), encrypted like every payload but the search attributes.
    expect(claimPayloads()).toHaveLength(1);
    const encodings = payloadsIn(history).map((p) => text(p.metadata?.[METADATA_ENCODING_KEY]));
    expect(encodings.length).toBeGreaterThan(5);
    expect(new Set(encodings)).toEqual(new Set([ENCRYPTED_ENCODING]));
  });

  test("a failure's message is encrypted too, and the client reads it", async () => {
    const workflowId = uniqueId('fail');
    const quote = `cannot reach ${phone}`;
    const failure = await withWorker(ts.dev, { workflowsPath: require.resolve('./workflows/smoke') }, (taskQueue) =>
      ts.dev.client.workflow.execute(failWith, { args: [quote], taskQueue, workflowId }).catch((err: unknown) => err),
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause?.message).toBe(quote);
    const raw = Buffer.from(temporal.api.history.v1.History.encode(await ts.dev.client.workflow.getHandle(workflowId).fetchHistory()).finish());
    for (const form of encodingsOf(phone)) expect({ form, found: raw.includes(form) }).toEqual({ form, found: false });
  });

  test('the client decrypts query results', async () => {
    const state = await bookingHandle(ts.dev.client, bookingId).query(statusQuery);
    expect(state).toMatchObject({ status: 'PENDING', guest: { phone, name: guestName } });
  });

  describe('the codec endpoint', () => {
    const encryptedPayloads = () =>
      claimPayloads().map((p) => ({
          metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
          data: Buffer.from(p.data!).toString('base64'),
        }));
    const post = (direction: string, body: unknown, headers: Record<string, string> = {}) =>
      call(`/codec/${direction}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default', origin: UI_ORIGIN, ...headers },
        body: JSON.stringify(body),
      });

    test('refuses callers without the admin token', async () => {
      const res = await post('decode', { payloads: encryptedPayloads() });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      // The browser may read the refusal, so the UI can say what is wrong.
      expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
      expect((await post('decode', { payloads: [] }, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    });

    test('decodes what the system wrote, with the token', async () => {
      const res = await post('decode', { payloads: encryptedPayloads() }, admin);
      expect(res.status).toBe(200);
      const { payloads } = (await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
      expect(payloads).toHaveLength(1);
      expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString())).toMatchObject({ phone, name: guestName });
    });

    test('encodes for the UI (e.g. a signal sent from it) what the workers can read', async () => {
      const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"hello"').toString('base64') };
      const encoded = await post('encode', { payloads: [plain] }, admin);
      const { payloads } = (await encoded.json()) as { payloads: unknown[] };
      expect(Buffer.from((payloads[0] as { metadata: Record<string, string> }).metadata.encoding!, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
      const decoded = await post('decode', { payloads }, admin);
      expect(await decoded.json()).toEqual({ payloads: [plain] });
    });

    test("a browser signs in once and the UI's requests then carry the token as a cookie", async () => {
      const page = await call('/codec/login');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<form method="post" action="login">');
      const signIn = (token: string) =>
        call('/codec/login', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token }).toString(),
        });
      const refused = await signIn('wrong-token-0123456789');
      expect(refused.status).toBe(401);
      expect(refused.headers.get('set-cookie')).toBeNull();

      const signedIn = await signIn(ts.adminToken);
      expect(signedIn.status).toBe(200);
      const cookie = signedIn.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^wa_codec_token=[^;]+; Max-Age=28800; Path=\/codec; Expires=[^;]+; HttpOnly; SameSite=Strict$/);
      const decoded = await post('decode', { payloads: encryptedPayloads() }, { cookie: cookie.split(';')[0]! });
      expect(decoded.status).toBe(200);
      const forged = await post('decode', { payloads: [] }, { cookie: 'wa_codec_token=wrong-token-0123456789' });
      expect(forged.status).toBe(401);
      expect((await post('decode', { payloads: [] }, { cookie: 'wa_codec_token=%E0%A4%A' })).status).toBe(401);
    });

    test('answers the CORS preflight of the configured UI, and only of it', async () => {
      const preflight = (origin: string) =>
        call('/codec/decode', {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization,content-type,x-namespace',
          },
        });
      const ok = await preflight(UI_ORIGIN);
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
      expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
      expect(ok.headers.get('access-control-allow-headers')?.toLowerCase()).toBe('authorization,content-type,x-namespace');
      const other = await preflight('https://evil.example');
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    });

    test('refuses malformed bodies, a foreign namespace and undecryptable payloads in the one error shape', async () => {
      const bad = await post('decode', { payloads: [{ data: 'not base64!' }] }, admin);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as any).error).toMatchObject({ code: 'validation_failed', details: [{ path: 'payloads.0.data' }] });

      const foreign = await post('decode', { payloads: [] }, { ...admin, 'x-namespace': 'other' });
      expect(foreign.status).toBe(400);
      expect(((await foreign.json()) as any).error.code).toBe('bad_request');

      const [first] = encryptedPayloads();
      const unknownKey = { ...first!, metadata: { ...first!.metadata, 'encryption-key-id': Buffer.from('gone').toString('base64') } };
      const refused = await post('decode', { payloads: [unknownKey] }, admin);
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as any).error.message).toMatch(/key "gone", which is not in TEMPORAL_PAYLOAD_KEYS/);
    });
  });
});

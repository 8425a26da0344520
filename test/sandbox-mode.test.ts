/**
 * Which WhatsApp channel a process gets, where sandbox mode listens, and that /sandbox
 * exists only in sandbox mode and answers only to the holder of the start's key.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { ConfigError, listenHost, loadConfig } from '../config';
import { actionId } from '../domain/actions';
import { createLogger } from '../observability/logger';
import { createChannelFromConfig, type ConfiguredChannel } from '../whatsapp/channelFromConfig';
import { createTestApp } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { sandboxOf, type SandboxAccess } from './helpers/sandbox';
import { startTestSystem, type TestSystem } from './helpers/system';

const CREDENTIALS = {
  WHATSAPP_ACCESS_TOKEN: 'real-token',
  WHATSAPP_PHONE_NUMBER_ID: '123456789012345',
  WHATSAPP_APP_SECRET: 'real-secret',
  WHATSAPP_VERIFY_TOKEN: 'real-verify',
};
const REFUSAL = /SANDBOX=1 with WHATSAPP_ACCESS_TOKEN set listens only on loopback, so unset HOST or set it to 127\.0\.0\.1/;

/** This machine's first address other than loopback, to knock from "the network". */
const networkAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

let t: TestDatabase;
const opened: ConfiguredChannel[] = [];
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  for (const c of opened) await c.close();
  await t.drop();
});

async function channelFor(env: Record<string, string>, apiAndWorker: boolean) {
  const c = await createChannelFromConfig({ config: loadConfig(env), db: t.db, logger: createLogger('silent'), apiAndWorker });
  opened.push(c);
  return c;
}

test('without credentials, `npm start` (API and worker together) gets the sandbox', async () => {
  const c = await channelFor({}, true);
  expect(c.sandbox).toBeDefined();
  // One set of settings for the channel and the webhook router: the fake's.
  expect(c.config.WHATSAPP_API_URL).toBe(c.sandbox!.graph.url);
  expect(c.config.WHATSAPP_APP_SECRET).toMatch(/^[0-9a-f]{32}$/);
  expect(c.config.WHATSAPP_ACCESS_TOKEN).toMatch(/^sandbox-/);
  expect(c.config.WHATSAPP_PHONE_NUMBER_ID).toMatch(/^\d{15}$/);
  expect(c.urls).toEqual([{ label: 'Graph API', url: `${c.sandbox!.graph.url} (local fake)` }]);
  // 256 random bits, new at every start.
  expect(c.sandbox!.key).toMatch(/^[\w-]{43}$/);
  expect((await channelFor({}, true)).sandbox!.key).not.toBe(c.sandbox!.key);
});

test('with credentials there is no sandbox, unless SANDBOX=1 asks for it', async () => {
  const real = await channelFor(CREDENTIALS, true);
  expect(real.sandbox).toBeUndefined();
  expect(real.config).toMatchObject({ ...CREDENTIALS, WHATSAPP_API_URL: 'https://graph.facebook.com' });

  const forced = await channelFor({ ...CREDENTIALS, SANDBOX: '1' }, true);
  expect(forced.sandbox).toBeDefined();
  expect(forced.config.WHATSAPP_ACCESS_TOKEN).not.toBe(CREDENTIALS.WHATSAPP_ACCESS_TOKEN);
});

test('a lone API or worker without credentials records messages as queued; SANDBOX=1 there is refused', async () => {
  expect((await channelFor({}, false)).sandbox).toBeUndefined();
  await expect(channelFor({ SANDBOX: '1' }, false)).rejects.toThrow(/npm start/);
});

test('outside sandbox mode /sandbox and its API do not exist', async () => {
  const app = createTestApp({ db: t.db });
  for (const path of ['/sandbox', '/sandbox/', '/sandbox/app.js', '/sandbox/api/session', '/sandbox/api/restaurants']) {
    expect({ path, status: (await request(app).get(path)).status }).toEqual({ path, status: 404 });
  }
  expect((await request(app).post('/sandbox/api/send').send({ from: '+77015550100', text: 'hi' })).status).toBe(404);
});

describe('where the API listens', () => {
  test('HOST unset: loopback in sandbox mode, every interface otherwise; a HOST that is set wins', () => {
    expect(listenHost(loadConfig({}), true)).toBe('127.0.0.1');
    expect(listenHost(loadConfig({ HOST: '' }), true)).toBe('127.0.0.1');
    expect(listenHost(loadConfig({}), false)).toBe('0.0.0.0');
    expect(listenHost(loadConfig({ HOST: '0.0.0.0' }), true)).toBe('0.0.0.0');
    expect(listenHost(loadConfig({ HOST: '10.1.2.3' }), false)).toBe('10.1.2.3');
  });

  test('SANDBOX=1 with credentials is refused on any HOST but loopback', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
        throw err;
      }
    };
    for (const HOST of ['0.0.0.0', '::', '192.0.2.2', 'booking.example.com']) {
      expect({ HOST, problems: problems({ ...CREDENTIALS, SANDBOX: '1', HOST }) }).toEqual({ HOST, problems: [expect.stringMatching(REFUSAL)] });
    }
    for (const HOST of ['', '127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
      expect({ HOST, problems: problems({ ...CREDENTIALS, SANDBOX: '1', HOST }) }).toEqual({ HOST, problems: [] });
    }
    // Without credentials nothing real can be approved, and the key still guards the page.
    expect(problems({ SANDBOX: '1', HOST: '0.0.0.0' })).toEqual([]);
    expect(problems({ ...CREDENTIALS, HOST: '0.0.0.0' })).toEqual([]);
  });

  test('`npm start` with SANDBOX=1, credentials and HOST=0.0.0.0 stops at once, saying why', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-booking-refused-'));
    // External servers that do not exist: were the start not refused, it would fail on them instead.
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...CREDENTIALS,
      SANDBOX: '1',
      HOST: '0.0.0.0',
      DATA_DIR: dataDir,
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      ADMIN_API_TOKEN: 'refused-start-admin-token',
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: path.join(__dirname, '..'), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    fs.rmSync(dataDir, { recursive: true, force: true });
    expect({ code, output }).toEqual({ code: 1, output: expect.stringMatching(REFUSAL) });
    expect(output).not.toMatch(/migrations|listening/);
  });
});

describe('a sandbox on every interface (HOST=0.0.0.0 set explicitly)', () => {
  let ts: TestSystem;
  let sandbox: SandboxAccess;
  let origin: string;
  beforeAll(async () => {
    ts = await startTestSystem('sandbox-mode', { HOST: '0.0.0.0' });
    origin = `http://127.0.0.1:${new URL(ts.system.apiUrl!).port}`;
    sandbox = sandboxOf(ts.system, origin);
  });
  afterAll(async () => {
    await ts?.stop();
  });

  const expectRefused = async (res: Response) => {
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 401,
      body: { error: { code: 'unauthorized', message: expect.stringContaining('sandbox URL') } },
    });
    expect(res.headers.get('www-authenticate')).toMatch(/^SandboxKey /);
  };

  test('the explicit HOST is honoured: the network reaches it, and meets the key', async () => {
    expect(ts.system.apiUrl).toMatch(/^http:\/\/localhost:\d+$/);
    if (networkAddress) {
      const remote = `http://${networkAddress}:${new URL(ts.system.apiUrl!).port}`;
      expect((await fetch(`${remote}/health`)).status).toBeLessThan(500);
      await expectRefused(await fetch(`${remote}/sandbox/`));
      await expectRefused(await sandboxOf(ts.system, remote).call('GET', 'restaurants', undefined, {}));
    }
  });

  test('the printed URL carries the key; without it nothing under /sandbox answers', async () => {
    expect(sandbox.url).toBe(`${ts.system.apiUrl}/sandbox/?key=${sandbox.key}`);
    for (const p of ['/sandbox', '/sandbox/', '/sandbox/app.js', '/sandbox/index.html', '/sandbox/?key=not-the-key']) {
      await expectRefused(await fetch(`${origin}${p}`, { redirect: 'manual' }));
    }
    const wrong = `${sandbox.key.slice(0, -1)}${sandbox.key.endsWith('A') ? 'B' : 'A'}`;
    for (const [method, p] of [['GET', 'session'], ['GET', 'restaurants'], ['GET', 'chats'], ['GET', 'bookings/1'], ['POST', 'demo-restaurant']]) {
      await expectRefused(await sandbox.call(method, p, undefined, {}));
      await expectRefused(await sandbox.call(method, p, undefined, { 'X-Sandbox-Key': wrong }));
      await expectRefused(await sandbox.call(method, p, undefined, { Cookie: `sandbox_key=${wrong}` }));
    }
    expect(await ts.t.db('restaurants')).toEqual([]);
  });

  test('the printed URL trades the key for a cookie the page reads with; writes need the header', async () => {
    const entry = await fetch(`${origin}/sandbox/?key=${sandbox.key}`, { redirect: 'manual' });
    expect(entry.status).toBe(303);
    expect(entry.headers.get('location')).toBe('/sandbox/');
    const setCookie = entry.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^sandbox_key=[\w-]{43}; Path=\/sandbox; HttpOnly; SameSite=Strict$/);
    const cookie = { Cookie: setCookie.split(';')[0] };

    const page = await fetch(`${origin}/sandbox/`, { headers: cookie });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="/sandbox/app.js">');
    expect((await fetch(`${origin}/sandbox/app.js`, { headers: cookie })).status).toBe(200);
    expect((await sandbox.call('GET', 'restaurants', undefined, cookie)).status).toBe(200);
    const session = await sandbox.call('GET', 'session', undefined, cookie);
    expect(await session.json()).toMatchObject({ key: sandbox.key, keyHeader: 'X-Sandbox-Key' });
    expect(session.headers.get('cache-control')).toBe('no-store');

    // Another page on this host (another port is the same site) would send the cookie along.
    await expectRefused(await sandbox.call('POST', 'demo-restaurant', undefined, cookie));
    expect((await sandbox.call('POST', 'demo-restaurant')).status).toBe(201);
  });

  test('a forged manager tap without the key changes nothing; with the key it approves', async () => {
    await sandbox.call('POST', 'demo-restaurant');
    const { restaurants } = (await (await sandbox.call('GET', 'restaurants')).json()) as {
      restaurants: { id: number; tables: { id: number }[]; members: { phone: string; role: string }[] }[];
    };
    const [restaurant] = restaurants;
    const created = await fetch(`${origin}/api/bookings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ restaurantId: restaurant.id, tableId: restaurant.tables[1].id, startsAt: new Date(Date.now() + 2 * 86_400_000).toISOString(), partySize: 2, language: 'en' }),
    });
    expect(created.status).toBe(201);
    const booking = (await created.json()) as { id: number; claimText: string };
    expect((await sandbox.call('POST', 'send', { from: '+77015550100', text: booking.claimText })).status).toBe(200);

    const manager = restaurant.members.find((m) => m.role === 'manager')!;
    let request: { provider_message_id: string } | undefined;
    for (let i = 0; i < 150 && !request; i++) {
      request = await ts.t.db('whatsapp_messages').where({ booking_id: booking.id, purpose: 'managerRequest', phone: manager.phone }).whereNotNull('provider_message_id').first('provider_message_id');
      if (!request) await new Promise((r) => setTimeout(r, 100));
    }
    expect(request).toBeDefined();
    const tap = { from: manager.phone, messageId: request!.provider_message_id, buttonId: actionId('approve', booking.id) };
    const status = async () => ((await (await fetch(`${origin}/api/bookings/${booking.id}`)).json()) as { status: string }).status;

    await expectRefused(await sandbox.call('POST', 'tap', tap, {}));
    await expectRefused(await sandbox.call('POST', 'tap', tap, { Cookie: `sandbox_key=${sandbox.key}` }));
    await new Promise((r) => setTimeout(r, 500));
    expect(await status()).toBe('PENDING');
    // Only the guest's claim ever reached the webhook.
    expect(await ts.t.db('whatsapp_messages').where({ direction: 'in' })).toHaveLength(1);

    expect((await sandbox.call('POST', 'tap', tap)).status).toBe(200);
    let reached = await status();
    for (let i = 0; i < 100 && reached !== 'APPROVED'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      reached = await status();
    }
    expect(reached).toBe('APPROVED');
  });
});

/** Which WhatsApp channel a process gets, and that /sandbox exists only in sandbox mode. */
import request from 'supertest';
import { loadConfig } from '../config';
import { createLogger } from '../observability/logger';
import { createChannelFromConfig, type ConfiguredChannel } from '../whatsapp/channelFromConfig';
import { createTestApp } from './helpers/app';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const CREDENTIALS = {
  WHATSAPP_ACCESS_TOKEN: 'real-token',
  WHATSAPP_PHONE_NUMBER_ID: '123456789012345',
  WHATSAPP_APP_SECRET: 'real-secret',
  WHATSAPP_VERIFY_TOKEN: 'real-verify',
};

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

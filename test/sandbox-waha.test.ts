/**
 * The sandbox's WAHA (#12): `npm start` without credentials runs a fake WAHA beside the fake
 * Graph API, its signed webhooks pointed at POST /api/waha/webhook. Through /sandbox/api, as the
 * page does: switch the demo restaurant to the WAHA session, book, claim from the guest's
 * phone, and approve with a manager's bare `1`; every message is numbered text from the
 * session's number. Then back to the Cloud API number.
 */
import type { RunningSystem } from '../runtime/system';
import { sandboxOf, type SandboxAccess } from './helpers/sandbox';
import { startTestSystem, type TestSystem } from './helpers/system';
import { eventually } from './helpers/fixtures';
import { TEST_PAYLOAD_KEYS } from './helpers/temporal';

let ts: TestSystem;
let system: RunningSystem;
let sandbox: SandboxAccess;

beforeAll(async () => {
  ts = await startTestSystem('sandbox-waha', { HOST: '', WHATSAPP_CREDENTIALS_KEYS: TEST_PAYLOAD_KEYS, WAHA_MAX_MESSAGES_PER_MINUTE: '6000' });
  ({ system } = ts);
  sandbox = sandboxOf(system);
});

afterAll(async () => {
  await ts?.stop();
});

interface Chat {
  id: string;
  phone: string;
  direction: 'in' | 'out';
  text: string;
  via?: string;
  buttons?: unknown[];
}

/** The chats as the page's stream first sends them. */
async function chats(): Promise<Chat[]> {
  const res = await sandbox.call('GET', 'chats');
  const reader = res.body!.getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the chat stream ended');
      text += Buffer.from(value).toString('utf8');
      const event = /event: chats\ndata: (.*)\n\n/.exec(text);
      if (event) return (JSON.parse(event[1]) as { messages: Chat[] }).messages;
    }
  } finally {
    await reader.cancel();
  }
}

async function json(res: Response) {
  return { status: res.status, body: (await res.json()) as any };
}

test('a restaurant switched to WAHA: claim link, numbered requests from the session, a bare 1 approves', async () => {
  const session = await json(await sandbox.call('GET', 'session'));
  expect(session.body.wahaUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const { restaurantId } = (await json(await sandbox.call('POST', 'demo-restaurant'))).body;
  const switched = await json(await sandbox.call('PUT', `restaurants/${restaurantId}/whatsapp`, { provider: 'waha' }));
  expect(switched).toMatchObject({ status: 200, body: { restaurantId, whatsappAccountId: expect.any(Number) } });
  const { restaurants } = (await json(await sandbox.call('GET', 'restaurants'))).body;
  const restaurant = restaurants.find((r: { id: number }) => r.id === restaurantId);
  expect(restaurant.whatsappAccountId).toBe(switched.body.whatsappAccountId);
  const manager = restaurant.members.find((m: { role: string }) => m.role === 'manager');

  const booked = await fetch(`${system.apiUrl}/api/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ restaurantId, tableId: restaurant.tables[0].id, startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString(), partySize: 2 }),
  });
  const booking = (await json(booked)).body;
  expect(booking.whatsappUrl).toContain(`https://wa.me/${switched.body.displayNumber.slice(1)}?`);

  const guest = '+77015550177';
  expect((await sandbox.call('POST', 'send', { from: guest, text: booking.claimText, via: 'waha' })).status).toBe(200);
  const request = await eventually(
    async () => (await chats()).find((m) => m.phone === manager.phone && m.direction === 'in' && m.text.includes(`#${booking.id}`)),
    Boolean,
  );
  expect(request).toMatchObject({ via: 'waha' });
  expect(request!.buttons).toBeUndefined();
  expect(request!.text).toMatch(/1️⃣ .*\n2️⃣ .*\n3️⃣ /);

  expect((await sandbox.call('POST', 'send', { from: manager.phone, text: '1', via: 'waha' })).status).toBe(200);
  await eventually(async () => (await ts.t.db('bookings').where({ id: booking.id }).first('status')).status, (s) => s === 'APPROVED');
  const guestChat = await eventually(async () => (await chats()).filter((m) => m.phone === guest && m.direction === 'in'), (m) => m.length === 2);
  expect(guestChat.every((m) => m.via === 'waha')).toBe(true);

  // Back to the Cloud API number: its next booking's link is the default number's.
  expect((await json(await sandbox.call('PUT', `restaurants/${restaurantId}/whatsapp`, { provider: 'default' }))).body).toMatchObject({ whatsappAccountId: null });
  expect((await json(await sandbox.call('PUT', `restaurants/${restaurantId}/whatsapp`, { provider: 'telegram' }))).status).toBe(400);
});

/**
 * The WAHA channel (#12) against the fake WAHA over HTTP and a real Postgres: a message goes
 * out as numbered text saying what each number does, the rendered message is what is stored
 * (so a numbered reply can be read back), WAHA's id and the account are recorded, a resend
 * asks nothing, and a message that would be a template goes in its interactive form.
 */
import { getBookingDetails } from '../db/bookingViews';
import { findOutboundByIdempotencyKey } from '../db/messages';
import { idempotencyKey, type BookingDetails, type Notification } from '../domain/notifications';
import { createLogger } from '../observability/logger';
import { startFakeWaha, type FakeWaha } from '../sandbox/waha';
import { createWahaChannel } from '../whatsapp/channel';
import { createWahaClient, type WahaClient } from '../whatsapp/waha/client';
import { numberedChoices } from '../whatsapp/waha/numbered';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createRestaurantFixture, insertBookingRow, type RestaurantFixture } from './helpers/fixtures';

const config = { WHATSAPP_MANAGER_TEMPLATE: 'booking_request', WHATSAPP_REMINDER_TEMPLATE: 'booking_reminder' };
const ACCOUNT_ID = 4242;

let t: TestDatabase;
let waha: FakeWaha;
let client: WahaClient;
let restaurant: RestaurantFixture;
let booking: BookingDetails;
let round = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  restaurant = await createRestaurantFixture(t.db);
  booking = (await getBookingDetails(t.db, await insertBookingRow(t.db, restaurant, 'APPROVED')))!;
  waha = await startFakeWaha({ apiKey: 'key', sessions: [{ name: 'cafe' }], acks: false });
  client = createWahaClient({ baseUrl: waha.url, session: 'cafe', apiKey: 'key' });
});

afterAll(async () => {
  await client?.close();
  await waha?.close();
  await t?.drop();
});

const channel = () => createWahaChannel({ config, db: t.db, logger: createLogger('silent'), waha: client, accountId: ACCOUNT_ID });
const request = (extra: Partial<Notification> = {}): Notification => ({
  purpose: 'managerRequest',
  recipient: { role: 'manager', phone: restaurant.managers[0].phone, language: 'en', name: 'Aigerim' },
  booking,
  round: ++round,
  ...extra,
});

test('numbered text with what each number does; the rendered message stored with WAHA’s id and the account; a resend asks nothing', async () => {
  const n = request();
  const sent = await channel().send(n);
  const text = waha.sent.at(-1)!;
  expect(sent).toEqual({ status: 'sent', idempotencyKey: idempotencyKey(n), providerMessageId: text.id, reused: false });
  expect(text.chatId).toBe(`${restaurant.managers[0].phone.slice(1)}@c.us`);
  expect(text.text).toMatch(/\n\n1️⃣ Approve\n2️⃣ Reject\n3️⃣ Contact guest\n\n/);
  expect(text.text.endsWith("Reply 1 to approve, 2 to reject, 3 for the guest's number.")).toBe(true);

  const row = await findOutboundByIdempotencyKey(t.db, idempotencyKey(n));
  expect(row).toMatchObject({ providerMessageId: text.id, status: 'sent' });
  expect(numberedChoices(row!.payload).map((c) => c.title)).toEqual(['Approve', 'Reject', 'Contact guest']);
  expect((await t.db('whatsapp_messages').where({ id: row!.id }).first('account_id')).account_id).toBe(ACCOUNT_ID);

  const requests = waha.requests.length;
  expect(await channel().send(n)).toMatchObject({ providerMessageId: text.id, reused: true });
  expect(waha.requests.length).toBe(requests);
});

test('in Russian and Kazakh too', async () => {
  await channel().send(request({ recipient: { role: 'manager', phone: restaurant.managers[0].phone, language: 'ru' } }));
  expect(waha.sent.at(-1)!.text.endsWith('Ответьте: 1 — подтвердить, 2 — отклонить, 3 — номер гостя.')).toBe(true);
  await channel().send(request({ recipient: { role: 'manager', phone: restaurant.managers[0].phone, language: 'kk' } }));
  expect(waha.sent.at(-1)!.text.endsWith('Жауап беріңіз: 1 — растау, 2 — бас тарту, 3 — қонақтың нөмірі.')).toBe(true);
});

test('no templates on WhatsApp Web: a message asked for as its template goes in its interactive form, under the template’s key', async () => {
  const n = request({ purpose: 'guestReminder', recipient: { role: 'guest', phone: '+447700900123', language: 'en' }, viaTemplate: true });
  await channel().send(n);
  expect(waha.sent.at(-1)!.text.endsWith('Reply 1 to confirm, 2 to cancel.')).toBe(true);
  const row = await findOutboundByIdempotencyKey(t.db, `${idempotencyKey(n)}:template`);
  expect(row?.payload).toMatchObject({ type: 'interactive' });
});

test('a reply quotes the message it answers; a text without choices has no numbered line', async () => {
  await channel().send(request({ purpose: 'guestHelp', booking: undefined, recipient: { role: 'guest', phone: '+447700900124', language: 'en' }, replyTo: 'false_447700900124@c.us_ABC' }));
  const sent = waha.sent.at(-1)!;
  expect(sent.replyTo).toBe('false_447700900124@c.us_ABC');
  expect(sent.text).not.toMatch(/Reply \d|1️⃣/);
});

test('WAHA down: the row is left retrying and the error is retryable; the next attempt sends it', async () => {
  const n = request();
  waha.fail({ status: 503, times: 1 });
  await expect(channel().send(n)).rejects.toMatchObject({ retryable: true });
  expect(await findOutboundByIdempotencyKey(t.db, idempotencyKey(n))).toMatchObject({ status: 'retrying', providerMessageId: null });
  expect(await channel().send(n)).toMatchObject({ status: 'sent', reused: false });
});

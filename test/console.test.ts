/**
 * The console in a real browser (Debian's chromium, playwright-core) against the whole system
 * as `npm start` runs it in sandbox mode: API, worker, webhook inbox, Temporal dev server,
 * Postgres and the fake Graph API. A booking made through the public API and claimed from the
 * guest's phone appears in the console without a reload; Approve in the console reaches the
 * guest's WhatsApp (the fake's record); the statistics count it.
 *
 * Saves test-artifacts/console*.png; with UPDATE_SCREENSHOTS=1 also docs/console.png and
 * docs/console-stats.png, the README's pictures.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { ChatMessage } from '../api/routes/sandbox';
import type { RunningSystem } from '../runtime/system';
import { ensureChromium, launchBrowser, type Browser } from './helpers/browser';
import { eventually } from './helpers/fixtures';
import { sandboxOf, type SandboxAccess } from './helpers/sandbox';
import { startTestSystem, type TestSystem } from './helpers/system';

const ROOT = path.join(__dirname, '..');
let ts: TestSystem;
let system: RunningSystem;
let sandbox: SandboxAccess;
let browser: Browser;
let restaurantId: number;
let tables: { id: number; name: string }[];

beforeAll(async () => {
  [ts] = await Promise.all([startTestSystem('console', { HOST: '' }), ensureChromium()]);
  ({ system } = ts);
  sandbox = sandboxOf(system);
  const demo = await sandbox.call('POST', 'demo-restaurant');
  ({ restaurantId } = await demo.json());
  ({ tables } = await admin('GET', `/restaurants/${restaurantId}`));
  browser = await launchBrowser({ width: 1280, height: 860 });
}, 600_000); // a machine without chromium installs it first

afterAll(async () => {
  await browser?.close();
  await ts?.stop();
});

async function admin(method: string, route: string, body?: unknown) {
  const res = await fetch(`${system.apiUrl}/admin-api${route}`, {
    method,
    headers: { authorization: `Bearer ${ts.adminToken}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
  return res.json();
}

/** A booking made as a restaurant website makes it, claimed from the guest's phone in the sandbox. */
async function bookAndClaim(o: { table: string; daysAhead: number; at: string; guest: string; phone: string }) {
  // The demo restaurant is in Asia/Almaty (+05:00).
  const day = new Date(Date.now() + 5 * 3_600_000 + o.daysAhead * 86_400_000).toISOString().slice(0, 10);
  const res = await fetch(`${system.apiUrl}/api/bookings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      restaurantId,
      tableId: tables.find((t) => t.name === o.table)!.id,
      startsAt: `${day}T${o.at}:00+05:00`,
      partySize: 3,
      guestName: o.guest,
      specialRequests: 'Birthday, a cake at 21:00',
      language: 'en',
    }),
  });
  expect(res.status).toBe(201);
  const booking = (await res.json()) as { id: number; claimText: string };
  expect((await sandbox.call('POST', 'send', { from: o.phone, name: o.guest, text: booking.claimText })).status).toBe(200);
  return booking;
}

/** Every chat the fake Graph API holds: the first event of the sandbox's chat stream. */
async function chats(): Promise<ChatMessage[]> {
  const controller = new AbortController();
  const res = await fetch(`${system.apiUrl}/sandbox/api/chats`, { headers: { 'X-Sandbox-Key': sandbox.key }, signal: controller.signal });
  const reader = res.body!.getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
    const event = /event: chats\ndata: (.*)\n\n/.exec(text);
    if (event) {
      controller.abort();
      return (JSON.parse(event[1]) as { messages: ChatMessage[] }).messages;
    }
  }
  throw new Error('the chat stream ended without a snapshot');
}

async function signInAsAdmin(page: Page) {
  await page.goto(`${system.apiUrl}/console/`);
  // The browser profile may still hold the session cookie of an earlier sign-in.
  await page.locator('#live:visible, #signin-form:visible').first().waitFor();
  if (await page.locator('#live:visible').count()) return;
  await page.fill('#token', ts.adminToken);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#live:visible').waitFor();
}

const kpi = (page: Page, id: string) => page.locator(`#kpi-${id} .kpi-value`);

test('sign in, see a new booking appear live, approve it, the guest is told, the statistics count it', async () => {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  // A wrong token first: refused, and the page says so.
  await page.goto(`${system.apiUrl}/console/`);
  await page.fill('#token', 'not-the-admin-token');
  await page.click('#signin-form button[type=submit]');
  await page.locator('#signin-error:visible', { hasText: 'not the admin token' }).waitFor();
  await signInAsAdmin(page);
  errors.length = 0; // the browser logs the refused sign-in's 401 itself

  await page.click('#tabs [data-tab="stats"]');
  await kpi(page, 'total').waitFor();
  const approvedBefore = Number(await kpi(page, 'approved').textContent());
  const totalBefore = Number(await kpi(page, 'total').textContent());
  await page.click('#tabs [data-tab="bookings"]');

  // Made and claimed while the page is open: it appears without a reload.
  const booking = await bookAndClaim({ table: 'Table 2', daysAhead: 1, at: '19:30', guest: 'Ana Live', phone: '+77017770101' });
  const row = page.locator(`.booking[data-id="${booking.id}"]`);
  await page.locator(`.booking[data-id="${booking.id}"][data-status="PENDING"]`).waitFor();
  expect(await row.textContent()).toContain('Ana Live');
  expect(await page.locator('#pending-count').textContent()).toBe('1');

  await row.click();
  const detail = page.locator('#detail');
  await detail.locator('h2', { hasText: `Booking #${booking.id}` }).waitFor();
  expect(await detail.locator('dl').textContent()).toContain('Birthday, a cake at 21:00');
  // The buttons a PENDING booking allows.
  expect(await detail.locator('.actions button').evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.action))).toEqual(['approve', 'reject', 'cancel']);
  // The managers' requests went out and are in the booking's message log.
  await eventually(
    async () => {
      await row.click();
      return detail.locator('ol.messages li', { hasText: 'managerRequest' }).count();
    },
    (n) => n >= 2,
  );

  await detail.locator('[data-action="approve"]').click();
  await page.locator('#toast', { hasText: `Done: booking #${booking.id} is now Approved` }).waitFor();
  await page.locator(`.booking[data-id="${booking.id}"][data-status="APPROVED"]`).waitFor();
  await detail.locator('.detail-head [data-status="APPROVED"]').waitFor();
  expect(await detail.locator('.actions button').evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.action))).not.toContain('approve');
  expect(await detail.locator('ol.history').textContent()).toMatch(/Approved.*by admin/);

  // The guest's WhatsApp, as the fake Graph API holds it.
  const confirmation = await eventually(
    async () => (await chats()).find((m) => m.phone === '+77017770101' && m.direction === 'in' && /confirmed/i.test(m.text)),
    (m) => m !== undefined,
  );
  expect(confirmation!.text).toContain('Demo Bistro');

  await page.click('#tabs [data-tab="stats"]');
  await page.locator(`#kpi-approved .kpi-value:text-is("${approvedBefore + 1}")`).waitFor();
  expect(Number(await kpi(page, 'total').textContent())).toBe(totalBefore + 1);
  await page.locator('figure svg.chart').first().waitFor();
  expect(await page.locator('figure svg.chart').count()).toBeGreaterThanOrEqual(4);
  fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
  await page.locator('#toast').waitFor({ state: 'hidden' });
  const statsShot = await page.screenshot({ fullPage: true });
  fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'console-stats.png'), statsShot);
  if (process.env.UPDATE_SCREENSHOTS === '1') fs.writeFileSync(path.join(ROOT, 'docs', 'console-stats.png'), statsShot);

  // The picture for the README: the board with a second request waiting and the approved one open.
  await page.click('#tabs [data-tab="bookings"]');
  const second = await bookAndClaim({ table: 'Hall 4', daysAhead: 2, at: '20:00', guest: 'Timur Sadykov', phone: '+77017770102' });
  await page.locator(`.booking[data-id="${second.id}"][data-status="PENDING"]`).waitFor();
  await row.click();
  await detail.locator('ol.messages li', { hasText: 'guestApproved' }).waitFor();
  await page.locator('#toast').waitFor({ state: 'hidden' });
  const shot = await page.screenshot({ fullPage: true });
  fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'console.png'), shot);
  if (process.env.UPDATE_SCREENSHOTS === '1') fs.writeFileSync(path.join(ROOT, 'docs', 'console.png'), shot);
  expect(errors).toEqual([]);
  await page.close();
});

test('on a phone screen the list and the statistics fit the width and a booking opens over the list', async () => {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await signInAsAdmin(page);
  await page.locator('.booking').first().waitFor();
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(await overflow()).toBeLessThanOrEqual(0);
  await page.locator('.booking').first().click();
  await page.locator('#detail .back:visible').waitFor();
  const box = await page.locator('#detail').boundingBox();
  expect(box).toMatchObject({ x: 0, width: 390 });
  expect(await overflow()).toBeLessThanOrEqual(0);
  fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'console-phone.png'), await page.screenshot());
  await page.click('#detail .back');
  await page.locator('#detail').waitFor({ state: 'hidden' });
  await page.click('#tabs [data-tab="stats"]');
  await page.locator('figure svg.chart').first().waitFor();
  expect(await overflow()).toBeLessThanOrEqual(0);
  fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'console-phone-stats.png'), await page.screenshot({ fullPage: true }));
  await page.close();
});

test("a manager's /console link from WhatsApp opens their restaurant only; her Reject with a reason reaches the guest, her Approve and Arrived are recorded as hers", async () => {
  await browser.context.clearCookies();
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const booking = await bookAndClaim({ table: 'Terrace 3', daysAhead: 3, at: '18:00', guest: 'Rejected Guest', phone: '+77017770103' });

  // Aigerim, a manager of the demo restaurant, asks for the console in WhatsApp.
  const aigerim = '+77010000001';
  expect((await sandbox.call('POST', 'send', { from: aigerim, text: '/console' })).status).toBe(200);
  const reply = await eventually(
    async () => (await chats()).find((m) => m.phone === aigerim && m.direction === 'in' && m.text.includes('/console/?link=')),
    (m) => m !== undefined,
  );
  const link = /https?:\/\/\S+\/console\/\?link=[\w.-]+/.exec(reply!.text)![0];
  expect(new URL(link).origin).toBe(system.apiUrl);

  await page.goto(link);
  expect(page.url()).toBe(`${system.apiUrl}/console/`);
  await page.locator('#who', { hasText: 'Demo Manager Aigerim' }).waitFor();
  // Her session reaches her restaurant and nothing else.
  expect((await page.request.get(`${system.apiUrl}/admin-api/r/${restaurantId}/bookings`)).status()).toBe(200);
  expect((await page.request.get(`${system.apiUrl}/admin-api/r/${restaurantId + 1}/bookings`)).status()).toBe(403);
  expect((await page.request.get(`${system.apiUrl}/admin-api/inbox`)).status()).toBe(403);

  await page.locator(`.booking[data-id="${booking.id}"][data-status="PENDING"]`).click();
  const detail = page.locator('#detail');
  await detail.locator('[data-action="reject"]').click();
  await page.fill('#ask-reason', 'The terrace is closed for a private event');
  await page.click('#ask-ok');
  await page.locator(`.booking[data-id="${booking.id}"]`).waitFor({ state: 'detached' }); // closed bookings leave the open list
  await detail.locator('.detail-head [data-status="REJECTED"]').waitFor();
  expect(await detail.locator('ol.history').textContent()).toMatch(/Rejected.*by manager #\d+ — The terrace is closed for a private event/);

  const told = await eventually(
    async () => (await chats()).find((m) => m.phone === '+77017770103' && m.direction === 'in' && m.text.includes('private event')),
    (m) => m !== undefined,
  );
  expect(told).toBeDefined();

  // She approves another request: recorded as hers. Then the guest arrives (No-show is offered only once the time has come).
  const visit = await bookAndClaim({ table: 'Hall 4', daysAhead: 4, at: '13:00', guest: 'Arriving Guest', phone: '+77017770104' });
  await page.locator(`.booking[data-id="${visit.id}"][data-status="PENDING"]`).click();
  await detail.locator('h2', { hasText: `Booking #${visit.id}` }).waitFor();
  await detail.locator('[data-action="approve"]').click();
  await detail.locator('.detail-head [data-status="APPROVED"]').waitFor();
  expect(await detail.locator('.actions button').evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.action))).toEqual(['cancel', 'arrived']);
  await detail.locator('[data-action="arrived"]').click();
  await detail.locator('.detail-head [data-status="SEATED"]').waitFor();
  const history = await detail.locator('ol.history').textContent();
  expect(history).toMatch(/Approved.*by manager #\d+/);
  expect(history).toMatch(/Seated.*by manager #\d+/);

  // An altered link opens nothing, and the page says why.
  const forged = link.replace(/\.([\w-]+)$/, (_m, sig: string) => `.${sig.slice(0, -2)}AA`);
  await browser.context.clearCookies();
  await page.goto(forged);
  await page.locator('#signin-refused:visible').waitFor();
  expect(errors).toEqual([]);
  await page.close();
});

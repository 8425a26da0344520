/**
 * The sandbox in a real browser: the whole system as `npm start` runs it without WhatsApp
 * credentials (runtime/system.ts), driven through /sandbox by Debian's chromium. Every
 * message crosses real HTTP: the page → the public API and /sandbox/api → the fake Graph
 * API → signed webhooks → POST /api/whatsapp/webhook → the workflow → the Graph client.
 * HOST is unset, as for a developer's `npm start`, and the page is opened through the URL the
 * start printed, the only place its key is.
 *
 * Saves test-artifacts/sandbox.png; with UPDATE_SCREENSHOTS=1 also docs/sandbox.png, the
 * README's picture.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { RunningSystem } from '../runtime/system';
import { ensureChromium, launchBrowser, type Browser } from './helpers/browser';
import { sandboxOf, type SandboxAccess } from './helpers/sandbox';
import { startTestSystem, type TestSystem } from './helpers/system';
import { TEST_PAYLOAD_KEYS } from './helpers/temporal';

const ROOT = path.join(__dirname, '..');
let ts: TestSystem;
let system: RunningSystem;
let sandbox: SandboxAccess;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  // The keys `npm start` keeps in its data directory, for the WAHA session's account (#12).
  const env = { HOST: '', WHATSAPP_CREDENTIALS_KEYS: TEST_PAYLOAD_KEYS, WAHA_MAX_MESSAGES_PER_MINUTE: '6000' };
  [ts] = await Promise.all([startTestSystem('sandbox', env), ensureChromium()]);
  ({ system } = ts);
  sandbox = sandboxOf(system);
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 600_000); // a machine without chromium installs it first

afterAll(async () => {
  await browser?.close();
  await ts?.stop();
});

test('with HOST unset the sandbox listens on loopback only, and the banner lists its page with the key', async () => {
  expect(system.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const network = Object.values(os.networkInterfaces())
    .flat()
    .filter((i) => i && !i.internal)
    .map((i) => i!.address);
  for (const address of network) {
    const url = `http://${address.includes(':') ? `[${address}]` : address}:${new URL(system.apiUrl!).port}/health`;
    await expect(fetch(url)).rejects.toThrow();
  }
  expect(system.extraUrls).toContainEqual({ label: 'Sandbox', url: expect.stringMatching(new RegExp(`^${system.apiUrl}/sandbox/\\?key=[\\w-]{43}$`)) });
});

test('book a table, claim it from the guest phone, approve it from a manager phone', async () => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(sandbox.url);
  // The key left the address bar for a cookie.
  expect(page.url()).toBe(`${system.apiUrl}/sandbox/`);

  // A fresh database: the page offers the demo restaurant.
  await page.click('#create-demo');
  await page.waitForSelector('#booking-form:visible');
  await page.selectOption('#table', { label: 'Table 2: 4 seats, window, quiet' });
  await page.fill('#party', '3');
  await page.fill('#requests', 'Window seat, please');
  await page.fill('#preorder label:has-text("Plov") input', '2');
  await page.click('#book');

  const guest = page.locator('.phone[data-role="guest"]');
  await guest.locator('[data-testid="open-whatsapp"]').click();
  await guest.locator('.bubble.sent', { hasText: /^BOOKING:\d+-/ }).waitFor();

  const manager = page.locator('.phone[data-role="manager"]').first();
  const request = manager.locator('.bubble.received', { has: page.locator('.actions button') }).first();
  await request.waitFor();
  const buttons = request.locator('.actions button');
  expect(await buttons.evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.payload?.split(':')[0]))).toEqual([
    'APPROVE_BOOKING',
    'REJECT_BOOKING',
    'CONTACT_CLIENT',
  ]);
  await buttons.first().click();

  const confirmation = guest.locator('.bubble.received', { hasText: 'Your booking is confirmed' });
  await confirmation.waitFor();
  await page.locator('#status[data-status="APPROVED"]').waitFor();
  expect(await page.locator('#status-history li').allTextContents()).toEqual([
    expect.stringContaining('DRAFT'),
    expect.stringContaining('PENDING'),
    expect.stringContaining('APPROVED'),
  ]);
  // The tap is acknowledged as a reply to it, and the status webhooks came back: read.
  await manager.locator('.bubble.received', { has: page.locator('.quote') }).locator('.ticks.read').waitFor();
  await confirmation.locator('.ticks.read').waitFor();
  expect(errors).toEqual([]);

  const shot = await page.screenshot();
  fs.mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'sandbox.png'), shot);
  if (process.env.UPDATE_SCREENSHOTS === '1') fs.writeFileSync(path.join(ROOT, 'docs', 'sandbox.png'), shot);
});

test('the visit (#10): fire the reminder and cancel from it; reject the next booking with a reason picked from the list', async () => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const guest = page.locator('.phone[data-role="guest"]');
  const manager = page.locator('.phone[data-role="manager"]').first();
  const payload = (prefix: string) => page.locator(`[data-payload^="${prefix}:"]`);

  // The booking the previous test approved: its reminder now, instead of 24 h before; then as
  // the template a guest whose 24-hour window has closed gets, with the same two quick replies.
  await page.click('#fire-reminder');
  const reminder = guest.locator('.bubble.received', { has: payload('CONFIRM_VISIT') });
  await reminder.waitFor();
  await page.click('#fire-reminder-template');
  const template = guest.locator('.bubble.received', { has: page.locator('.template') });
  await template.waitFor();
  expect(await template.locator('.template').textContent()).toBe('template booking_reminder · en');
  expect(await template.locator('.actions button').allTextContents()).toEqual(['Confirm', 'Cancel booking']);
  await template.locator('[data-payload^="CANCEL_BOOKING:"]').click();
  const question = guest.locator('.bubble.received', { has: payload('CANCEL_YES') });
  await question.waitFor();
  expect(await question.locator('.text').textContent()).toMatch(/^Cancel your booking at Demo/);
  await question.locator('[data-payload^="CANCEL_YES:"]').click();
  await page.locator('#status[data-status="CANCELLED"]').waitFor();
  await guest.locator('.bubble.received', { hasText: /Done: your booking .* is cancelled/ }).waitFor();
  expect(await page.locator('#reminders').isHidden()).toBe(true);

  // The next booking: rejected, then the reason from the manager's list.
  await page.click('#book');
  await page.waitForFunction(() => !document.querySelector('#status-history')?.textContent?.includes('CANCELLED'));
  const id = (await page.locator('#booking-id').textContent())!.slice(1);
  await guest.locator('[data-testid="open-whatsapp"]').click();
  await manager.locator(`[data-payload="REJECT_BOOKING:${id}"]`).click();
  await page.locator('#status[data-status="REJECTED"]').waitFor();
  const reasons = manager.locator('.bubble.received', { has: page.locator('.list-picker') }).last();
  await reasons.locator('summary').click();
  expect(await reasons.locator('.list-row strong').allTextContents()).toEqual(['Мест нет', 'Ресторан закрыт', 'Частное мероприятие', 'Столик недоступен', 'Другая причина']);
  fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'sandbox-visit.png'), await page.screenshot());
  await reasons.locator(`[data-payload="REJECT_REASON:${id}:fully_booked"]`).click();
  await guest.locator('.bubble.received', { hasText: 'Reason: we are fully booked at that time' }).waitFor();
  // The manager's pick shows in their chat as the row's title, as WhatsApp shows it.
  await manager.locator('.bubble.sent', { hasText: 'Мест нет' }).waitFor();
  expect(errors).toEqual([]);
});

test('WhatsApp Web (#12): the restaurant switched to the WAHA session; its numbered request approved by typing 1', async () => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const guest = page.locator('.phone[data-role="guest"]');
  const manager = page.locator('.phone[data-role="manager"]').first();

  await page.selectOption('#restaurant-whatsapp', 'waha');
  await page.locator('#whatsapp-hint', { hasText: 'numbered choices' }).waitFor();
  await page.click('#book');
  await page.locator('#status[data-status="DRAFT"]').waitFor();
  const id = (await page.locator('#booking-id').textContent())!.slice(1);
  await guest.locator('[data-testid="open-whatsapp"]').click();
  // The demo restaurant's managers read Russian; no buttons, the choices numbered, and what they do.
  const request = manager.locator('.bubble.received', { hasText: `#${id}` }).filter({ hasText: 'Ответьте: 1 — подтвердить' });
  await request.waitFor();
  expect(await request.locator('.actions button').count()).toBe(0);
  expect(await request.locator('.meta').textContent()).toContain('WhatsApp Web');
  await manager.locator('.draft').fill('1');
  await manager.locator('.composer button').click();
  await page.locator('#status[data-status="APPROVED"]').waitFor();
  await guest.locator('.bubble.received', { hasText: 'Your booking is confirmed' }).last().waitFor();
  fs.writeFileSync(path.join(ROOT, 'test-artifacts', 'sandbox-waha.png'), await page.screenshot());

  await page.selectOption('#restaurant-whatsapp', 'default');
  await page.locator('#whatsapp-hint', { hasText: 'reply buttons' }).waitFor();
  expect(errors).toEqual([]);
});

test('the sandbox API refuses what no phone could do, and everything without the key', async () => {
  expect((await sandbox.call('POST', 'send', { from: '87011234567', text: 'hi' })).status).toBe(400);
  expect((await sandbox.call('POST', 'tap', { from: '+77015550100', messageId: 'wamid.nope', buttonId: 'APPROVE_BOOKING:1' })).status).toBe(404);
  expect((await sandbox.call('POST', 'send', { from: '+77015550100', text: 'hi' }, {})).status).toBe(401);
  expect((await sandbox.call('POST', 'bookings/999999/reminder', {})).status).toBe(404);
  expect((await fetch(`${system.apiUrl}/sandbox/`)).status).toBe(401);
});

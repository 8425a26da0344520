/**
 * `npm run bench`: latency and throughput of the real system on this machine — embedded
 * Postgres, the Temporal dev server, the worker and the API in this process, and the fake
 * Graph API standing in for Meta over real HTTP. Prints a table; nothing is asserted (the
 * targets live in the README next to the figures).
 *
 *   BENCH_BOOKINGS=200 BENCH_CONCURRENCY=10 npm run bench
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../config';
import { generatePayloadKeys, resolvePayloadKeys } from '../config/payloadKeys';
import { startEmbeddedPostgres } from '../db/embedded';
import { createLogger } from '../observability/logger';
import { startSystem } from '../runtime/system';
import { findFreePort, startDevServer } from '../temporal/devServer';
import { provisionTemporalCli } from '../temporal/provision';
import { startFakeGraphApi, type FakeGraphApi } from '../whatsapp/fakeGraphApi';

const BOOKINGS = Number(process.env.BENCH_BOOKINGS ?? 100);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const FLOWS = Number(process.env.BENCH_FLOWS ?? 20);

const secrets = { accessToken: 'bench-token', phoneNumberId: '100200300', appSecret: 'bench-secret', verifyToken: 'bench-verify' };

function percentiles(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  return { n: s.length, p50: at(50), p95: at(95), p99: at(99), max: s[s.length - 1] };
}

async function until<T>(read: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-booking-bench-'));
  const stops: (() => Promise<void>)[] = [];
  try {
    const pg = await startEmbeddedPostgres({ dataDir, port: await findFreePort() });
    stops.push(() => pg.stop());
    const base = loadConfig({});
    const cli = await provisionTemporalCli(base);
    const temporal = await startDevServer({ cliPath: cli.path, port: await findFreePort(), headless: true, namespace: 'default' });
    stops.push(() => temporal.stop());
    const fake: FakeGraphApi = await startFakeGraphApi({ accessToken: secrets.accessToken, phoneNumberId: secrets.phoneNumberId });
    stops.push(() => fake.close());

    const adminToken = 'bench-admin-token-0123456789';
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DATABASE_URL: pg.url,
      TEMPORAL_ADDRESS: temporal.address,
      ADMIN_API_TOKEN: adminToken,
      TEMPORAL_PAYLOAD_KEYS: generatePayloadKeys(),
      BOOKINGS_RATE_LIMIT_PER_MINUTE: '1000000',
      WHATSAPP_API_URL: fake.url,
      WHATSAPP_ACCESS_TOKEN: secrets.accessToken,
      WHATSAPP_PHONE_NUMBER_ID: secrets.phoneNumberId,
      WHATSAPP_APP_SECRET: secrets.appSecret,
      WHATSAPP_VERIFY_TOKEN: secrets.verifyToken,
    });
    const system = await startSystem({
      config,
      logger: createLogger('warn'),
      databaseUrl: pg.url,
      temporalAddress: temporal.address,
      adminToken,
      payloadKeys: resolvePayloadKeys(config),
    });
    stops.push(() => system.stop());
    fake.configureWebhook({ url: `${system.apiUrl}/api/whatsapp/webhook`, appSecret: secrets.appSecret });

    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${system.apiUrl}${p}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${await res.text()}`);
      return (await res.json()) as any;
    };

    const restaurant = await call('POST', '/admin-api/restaurants', { name: 'Bench Bistro', timezone: 'Asia/Almaty', managerLanguageCode: 'ru' });
    const table = await call('POST', `/admin-api/restaurants/${restaurant.id}/tables`, { name: 'Table 1', seats: 6 });
    const dish = await call('POST', `/admin-api/restaurants/${restaurant.id}/menu-items`, { name: 'Plov', priceMinor: 350000, currency: 'KZT' });
    const manager = await call('POST', `/admin-api/restaurants/${restaurant.id}/managers`, { name: 'Aigerim', phone: '+77010000001' });
    await call('POST', `/admin-api/restaurants/${restaurant.id}/managers`, { name: 'Daniyar', phone: '+77010000002' });
    fake.openWindow(manager.phone);
    fake.openWindow('+77010000002');

    // Every booking its own 3-hour slot of the one table, so none is refused as overlapping.
    let slot = 0;
    const newBooking = () =>
      call('POST', '/api/bookings', {
        restaurantId: restaurant.id,
        tableId: table.id,
        startsAt: new Date(Date.now() + 2 * 86_400_000 + slot++ * 3 * 3_600_000).toISOString(),
        partySize: 2,
        preorder: [{ menuItemId: dish.id, quantity: 1 }],
      });
    const timed = async <T>(fn: () => Promise<T>) => {
      const t0 = performance.now();
      const value = await fn();
      return { ms: performance.now() - t0, value };
    };

    for (let i = 0; i < 5; i++) await newBooking(); // warm-up: JIT, pools, caches

    const sequential: number[] = [];
    for (let i = 0; i < BOOKINGS; i++) sequential.push((await timed(newBooking)).ms);

    const concurrent: number[] = [];
    const t0 = performance.now();
    let left = BOOKINGS;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (left-- > 0) concurrent.push((await timed(newBooking)).ms);
      }),
    );
    const throughput = BOOKINGS / ((performance.now() - t0) / 1000);

    // The whole story per booking: the guest's WhatsApp claim to both managers holding the
    // request, and a manager's Approve tap to the guest holding the confirmation.
    const webhookAnswers: number[] = [];
    const claimToManagers: number[] = [];
    const tapToGuest: number[] = [];
    for (let i = 0; i < FLOWS; i++) {
      const booking = await newBooking();
      const guest = `+4479460${String(10000 + i).padStart(5, '0')}`;
      const claimedAt = performance.now();
      const claim = await timed(() => fake.receiveText(guest.slice(1), booking.claimText, { name: 'Bench Guest' }));
      webhookAnswers.push(claim.ms);
      const approveId = `APPROVE_BOOKING:${booking.id}`;
      const hasButton = (m: { type: string; body: Record<string, unknown> }) => m.type === 'interactive' && JSON.stringify(m.body).includes(approveId);
      await until(() => (fake.accepted.filter(hasButton).length >= 2 ? true : undefined));
      claimToManagers.push(performance.now() - claimedAt);

      const toGuest = () => fake.accepted.filter((m) => m.to === guest.slice(1)).length; // the fake records digits
      const before = toGuest();
      const tappedAt = performance.now();
      const tap = await timed(() => fake.tapButton(manager.phone.slice(1), approveId));
      webhookAnswers.push(tap.ms);
      await until(() => (toGuest() > before ? true : undefined));
      tapToGuest.push(performance.now() - tappedAt);
    }

    const rss = process.memoryUsage().rss / 2 ** 20;
    const rows = [
      ['POST /api/bookings, sequential', percentiles(sequential)],
      [`POST /api/bookings, ${CONCURRENCY} concurrent`, percentiles(concurrent)],
      ['webhook answered (signed POST → 200)', percentiles(webhookAnswers)],
      ['claim webhook → both managers messaged', percentiles(claimToManagers)],
      ['Approve tap → guest messaged', percentiles(tapToGuest)],
    ] as const;
    const f = (n: number) => n.toFixed(1).padStart(7);
    console.log(`\nwa-booking bench — ${os.cpus().length} cores, Node ${process.version}, ${new Date().toISOString()}`);
    console.log(`${'scenario'.padEnd(44)}     n     p50     p95     p99     max  (ms)`);
    for (const [name, p] of rows) console.log(`${name.padEnd(44)} ${String(p.n).padStart(5)} ${f(p.p50)} ${f(p.p95)} ${f(p.p99)} ${f(p.max)}`);
    console.log(`\nbooking creation throughput at concurrency ${CONCURRENCY}: ${throughput.toFixed(1)} bookings/s`);
    console.log(`resident memory of the API+worker process after the run: ${rss.toFixed(0)} MiB`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(err));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

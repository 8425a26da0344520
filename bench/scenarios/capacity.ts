import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pingSignal } from '../floor/workflows';
import { approve, claim, createBooking, newGuest, type Booking, type Restaurant } from '../lib/fixtures';
import { FLOOR_TASK_QUEUE, type Floor } from '../lib/floor';
import type { Stack } from '../lib/stack';
import { closedLoop, until } from '../lib/stats';

/** POST /api/bookings at a fixed concurrency; returns the bookings for the next steps. */
export async function createBookings(stack: Stack, r: Restaurant, n: number, concurrency: number) {
  const bookings: Booking[] = [];
  const run = await closedLoop(n, concurrency, async () => void bookings.push(await createBooking(stack, r)));
  return { bookings, perSecond: run.perSecond, seconds: run.seconds };
}

/** Floor: one INSERT and one workflow start behind an HTTP route, at the same concurrency. */
export async function floorBookings(floor: Floor, n: number, concurrency: number) {
  const run = await closedLoop(n, concurrency, async () => {
    const res = await fetch(`${floor.url}/bookings`, { method: 'POST', body: JSON.stringify({ partySize: 2 }) });
    if (res.status !== 201) throw new Error(`floor /bookings answered ${res.status}`);
  });
  return { perSecond: run.perSecond, seconds: run.seconds };
}

const processedInbound = async (stack: Stack) =>
  Number((await stack.sql.query(`select count(*) as n from whatsapp_messages where direction = 'in' and processed_at is not null`)).rows[0].n);

/**
 * Claims for every booking, then Approve taps for `taps` of them, as webhooks at
 * `concurrency`; "acted on" is the inbox marking the message processed, which it does
 * once the signal reached the workflow. The clock stops when the last one is.
 */
export async function actOn(stack: Stack, r: Restaurant, bookings: Booking[], taps: number, concurrency: number) {
  const before = await processedInbound(stack);
  const t0 = performance.now();
  await closedLoop(bookings.length, concurrency, (i) => claim(stack, bookings[i], newGuest()));
  await until('every claim acted on', async () => ((await processedInbound(stack)) >= before + bookings.length ? true : undefined), 600_000, 20);
  const claimsSeconds = (performance.now() - t0) / 1000;
  // Taps only once the bookings are PENDING, as a manager can tap only after the request arrived.
  await until('claimed bookings PENDING', async () => {
    const { rows } = await stack.sql.query(`select count(*) as n from bookings where status = 'PENDING' and id = any($1)`, [bookings.slice(0, taps).map((b) => b.id)]);
    return Number(rows[0].n) >= taps ? true : undefined;
  }, 600_000, 50);
  const t1 = performance.now();
  await closedLoop(taps, concurrency, (i) => approve(stack, bookings[i], r.managers[0].phone));
  await until('every tap acted on', async () => ((await processedInbound(stack)) >= before + bookings.length + taps ? true : undefined), 600_000, 20);
  const tapsSeconds = (performance.now() - t1) / 1000;
  return { claimsSeconds, tapsSeconds };
}

/** Floor: the same number of signals to trivial waiting workflows, at the same concurrency. */
export async function rawSignals(stack: Stack, signals: number, concurrency: number) {
  const workflows = Math.ceil(signals / 2);
  const handles = await Promise.all(
    Array.from({ length: workflows }, () => stack.plainClient.workflow.start('floorSignals', { taskQueue: FLOOR_TASK_QUEUE, workflowId: `floor-signals-${randomUUID()}`, args: [2] })),
  );
  const run = await closedLoop(signals, concurrency, (i) => handles[i % workflows].signal(pingSignal));
  return run.seconds;
}

/** n more open PENDING bookings: created at c=32, claimed at c=16, waited for. */
export async function addPending(stack: Stack, r: Restaurant, n: number) {
  const { bookings } = await createBookings(stack, r, n, 32);
  await closedLoop(n, 16, (i) => claim(stack, bookings[i], newGuest()));
  await untilPending(stack, bookings.map((b) => b.id));
}

export async function untilPending(stack: Stack, ids: number[]) {
  await until(`${ids.length} bookings PENDING`, async () => {
    const { rows } = await stack.sql.query(`select count(*) as n from bookings where status = 'PENDING' and id = any($1)`, [ids]);
    return Number(rows[0].n) >= ids.length ? true : undefined;
  }, 300_000, 200);
}

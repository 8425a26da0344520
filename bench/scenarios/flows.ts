import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pingSignal } from '../floor/workflows';
import { approve, claim, createBooking, isManagerRequest, isTo, newGuest, untilWaitingForClaim, type Restaurant, type SendWatch } from '../lib/fixtures';
import { FLOOR_TASK_QUEUE, startSink } from '../lib/floor';
import type { Stack } from '../lib/stack';
import { percentiles, sleep } from '../lib/stats';

export interface FlowTimes {
  claimToManager: number;
  approveToGuest: number;
}

/**
 * One guest's story over real HTTP: the claim webhook until the first manager request is
 * POSTed at the fake Graph API, then a manager's Approve tap until the guest's next message.
 */
export async function flow(stack: Stack, r: Restaurant, watch: SendWatch, withApproval: boolean): Promise<FlowTimes> {
  const booking = await createBooking(stack, r);
  await untilWaitingForClaim(stack, booking);
  const guest = newGuest();
  const claimedAt = Date.now();
  const manager = watch.next(isManagerRequest(booking.id), claimedAt);
  const waiting = watch.next(isTo(guest), claimedAt); // "we will confirm shortly": the tap's answer must come after it
  const ack = await claim(stack, booking, guest);
  if (ack !== 200) throw new Error(`claim webhook answered ${ack}`);
  const claimToManager = (await manager) - claimedAt;
  if (!withApproval) return { claimToManager, approveToGuest: NaN };
  await waiting;
  const tappedAt = Date.now();
  const toGuest = watch.next(isTo(guest), tappedAt);
  await approve(stack, booking, r.managers[0].phone);
  return { claimToManager, approveToGuest: (await toGuest) - tappedAt };
}

export async function sequentialFlows(stack: Stack, r: Restaurant, watch: SendWatch, n: number) {
  const times: FlowTimes[] = [];
  for (let i = 0; i < n; i++) times.push(await flow(stack, r, watch, true));
  return { claimToManager: percentiles(times.map((t) => t.claimToManager)), approveToGuest: percentiles(times.map((t) => t.approveToGuest)) };
}

/** `bursts` times, `guests` claims sent at once; the percentiles are over every claim of every burst. */
export async function concurrentClaims(stack: Stack, r: Restaurant, watch: SendWatch, guests: number, bursts: number) {
  const times: number[] = [];
  for (let burst = 0; burst < bursts; burst++) {
    const bookings = await Promise.all(Array.from({ length: guests }, () => createBooking(stack, r)));
    await Promise.all(bookings.map((b) => untilWaitingForClaim(stack, b)));
    const claimedAt = Date.now();
    const sent = bookings.map((b) => watch.next(isManagerRequest(b.id), claimedAt));
    await Promise.all(bookings.map((b) => claim(stack, b, newGuest())));
    times.push(...(await Promise.all(sent)).map((at) => at - claimedAt));
  }
  return percentiles(times);
}

/** Floor: signal a waiting trivial workflow whose local activity POSTs to an HTTP sink. */
export async function signalToPostFloor(stack: Stack, n: number) {
  const sink = await startSink();
  try {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      const handle = await stack.plainClient.workflow.start('floorNotify', { taskQueue: FLOOR_TASK_QUEUE, workflowId: `floor-notify-${id}`, args: [sink.url, id] });
      await sleep(50); // its first task done, as a DRAFT booking's is long before its claim
      const t0 = performance.now();
      await handle.signal(pingSignal);
      times.push((await sink.arrived(id)) - t0);
    }
    return percentiles(times);
  } finally {
    await sink.close();
  }
}

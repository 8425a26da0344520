import { approveId, createBooking, digits, newGuest, type Booking } from '../../bench/lib/fixtures';
import { buttonTap, inboundText, newMessageId } from '../../bench/lib/meta';
import { sleep, until } from '../../bench/lib/stats';
import type { Checks } from '../checks';
import { allReach, noDoubleTransitions, noDuplicateSends, noFailedWorkflows, noInboundLost, rowsMatchWorkflows } from '../invariants';
import { chaosStack, log, randomBetween } from './common';

const BOOKINGS = 50;

/**
 * 50 guests each create, claim and get approved, with random pauses, while the worker is
 * SIGKILLed at random moments and restarted each time; then every booking must be APPROVED
 * with its row and workflow agreeing, every inbound message acted on, nothing FAILED.
 */
export async function workerKills(c: Checks) {
  const { stack, r } = await chaosStack('chaos-worker-kills');
  try {
    const acked: string[] = [];
    const ids: number[] = [];
    const errors: string[] = [];
    let guestsDone = false;
    const guest = async (i: number) => {
      // Spread over half a minute, so kills land in every phase: creation, claim, decision, sends.
      await sleep(randomBetween(0, 30_000));
      const b: Booking = await createBooking(stack, r);
      ids.push(b.id);
      await sleep(randomBetween(0, 3000));
      const claimId = newMessageId();
      if ((await stack.webhook.post(inboundText(newGuest(), b.claimText, claimId))) === 200) acked.push(claimId);
      // A manager taps once the request is in their phone, i.e. the booking is PENDING.
      await until(`#${b.id} PENDING`, async () => ((await stack.sql.query(`select 1 from bookings where id = $1 and status = 'PENDING'`, [b.id])).rowCount ? true : undefined), 120_000, 200);
      await sleep(randomBetween(0, 2000));
      const tapId = newMessageId();
      if ((await stack.webhook.post(buttonTap(digits(r.managers[i % 2].phone), approveId(b.id), tapId))) === 200) acked.push(tapId);
    };
    const guests = Promise.all(Array.from({ length: BOOKINGS }, (_, i) => guest(i).catch((err: Error) => void errors.push(err.message)))).finally(() => (guestsDone = true));
    let kills = 0;
    while (!guestsDone) {
      await sleep(randomBetween(1000, 5000));
      if (guestsDone) break;
      await stack.worker.kill();
      kills++;
      log(`worker SIGKILLed (${kills}); restarting`);
      await stack.worker.start();
    }
    await guests;
    c.check('the worker was killed at random points', kills >= 3, `${kills} kills over ${BOOKINGS} bookings`);
    c.check('every guest flow could run (create, claim, PENDING)', errors.length === 0, errors.slice(0, 3).join('; '));
    await allReach(stack, c, ids, ['APPROVED'], 120_000);
    await noInboundLost(stack, c, acked);
    await rowsMatchWorkflows(stack, c, ids);
    await noFailedWorkflows(stack, c);
    await noDoubleTransitions(stack, c);
    await noDuplicateSends(stack, c);
  } finally {
    await stack.stop();
  }
}

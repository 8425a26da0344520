import { newGuest } from '../../bench/lib/fixtures';
import { inboundText, newMessageId } from '../../bench/lib/meta';
import { sleep } from '../../bench/lib/stats';
import type { Checks } from '../checks';
import { allReach, claimsAnsweredNotFound, noFailedWorkflows, noInboundLost, rowsMatchWorkflows, statusCounts } from '../invariants';
import { chaosStack, createBookings, log } from './common';

/** Timings shortened so that the outage outlasts every deadline of a booking. */
const TIMINGS = { BOOKING_CLAIM_TTL: '40s', DECISION_REMINDER_AFTER: '5s', ESCALATE_AFTER: '10s', DECISION_TIMEOUT: '20s' };
const OUTAGE_MS = 45_000;

/**
 * The worker is down longer than every deadline while bookings are created and half of
 * them claimed. Afterwards every row has a live or properly finished workflow, nothing
 * FAILED, and no guest whose code was valid when sent was told it does not exist.
 */
export async function workerOutage(c: Checks) {
  const { stack, r } = await chaosStack('chaos-outage', { env: TIMINGS });
  try {
    await stack.worker.kill();
    log(`worker down for ${OUTAGE_MS / 1000} s`);
    const downSince = Date.now();
    const bookings = await createBookings(stack, r, 20);
    c.check('bookings can be created while the worker is down', bookings.length === 20);
    const ids = bookings.map((b) => b.id);
    const claimed = bookings.slice(0, 10);
    const guests = claimed.map(() => newGuest());
    const acked: string[] = [];
    for (const [i, b] of claimed.entries()) {
      const id = newMessageId();
      if ((await stack.webhook.post(inboundText(guests[i], b.claimText, id))) === 200) acked.push(id);
    }
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downSince)));
    log('worker back');
    await stack.worker.start();
    // Claimed in time: PENDING, then expired undecided; unclaimed: lapsed DRAFT.
    await allReach(stack, c, claimed.map((b) => b.id), ['EXPIRED'], 120_000, 'every booking claimed during the outage');
    await allReach(stack, c, ids.slice(10), ['EXPIRED'], 120_000, 'every unclaimed booking');
    const { rows } = await stack.sql.query(`select count(*)::int as n from booking_history where booking_id = any($1) and to_status = 'PENDING'`, [claimed.map((b) => b.id)]);
    c.check('every claim sent during the outage was honoured (PENDING in history)', rows[0].n === claimed.length, `${rows[0].n}/${claimed.length}; now ${JSON.stringify(await statusCounts(stack, ids))}`);
    const notFound = claimsAnsweredNotFound(stack, guests);
    c.check('no valid claim answered "not found"', notFound === 0, `${notFound} guests told their code does not exist`);
    await noInboundLost(stack, c, acked);
    const open: string[] = [];
    for (const id of ids) {
      const d = await stack.client.workflow.getHandle(`booking-${id}`).describe().catch(() => undefined);
      if (!d || !['RUNNING', 'COMPLETED'].includes(d.status.name)) open.push(`#${id} ${d?.status.name ?? 'no workflow'}`);
    }
    c.check('every row has a running or completed workflow', open.length === 0, open.slice(0, 5).join(', '));
    await rowsMatchWorkflows(stack, c, ids);
    await noFailedWorkflows(stack, c);
  } finally {
    await stack.stop();
  }
}

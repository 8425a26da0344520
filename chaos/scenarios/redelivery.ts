import { approveId, digits, newGuest } from '../../bench/lib/fixtures';
import { buttonTap, inboundText, newMessageId, statusUpdate } from '../../bench/lib/meta';
import { closedLoop } from '../../bench/lib/stats';
import type { Checks } from '../checks';
import { allReach, noDoubleTransitions, noDuplicateSends, noFailedWorkflows, noInboundLost, rowsMatchWorkflows } from '../invariants';
import { chaosStack, createBookings, log, redeliveries } from './common';

/**
 * Every webhook delivered 2-5 times, shuffled, 16 at once: claims, then both managers'
 * taps on every booking (Approve from one, Reject from the other: first decision wins),
 * then every status of every sent message.
 */
export async function redeliveryStorm(c: Checks) {
  const { stack, r } = await chaosStack('chaos-redelivery');
  try {
    const bookings = await createBookings(stack, r, 30);
    const ids = bookings.map((b) => b.id);
    const acked: string[] = [];
    const storm = async (deliveries: { id: string; body: unknown }[]) => {
      const all = redeliveries(deliveries);
      log(`${deliveries.length} webhooks as ${all.length} deliveries`);
      await closedLoop(all.length, 16, async (i) => {
        if ((await stack.webhook.post(all[i].body)) === 200) acked.push(all[i].id);
      });
    };

    await storm(bookings.map((b) => ({ id: newMessageId(), guest: newGuest(), b })).map((x) => ({ id: x.id, body: inboundText(x.guest, x.b.claimText, x.id) })));
    await allReach(stack, c, ids, ['PENDING']);
    const [first, second] = r.managers.map((m) => digits(m.phone));
    await storm(
      bookings.flatMap((b) => {
        const a = newMessageId();
        const rj = newMessageId();
        return [
          { id: a, body: buttonTap(first, approveId(b.id), a) },
          { id: rj, body: buttonTap(second, `REJECT_BOOKING:${b.id}`, rj) },
        ];
      }),
    );
    await allReach(stack, c, ids, ['APPROVED', 'REJECTED']);
    const sent = [...stack.graph.accepted];
    const statuses = sent.flatMap((m) => (['sent', 'delivered', 'read'] as const).map((s) => ({ id: '', body: statusUpdate(m.id, s, m.to) })));
    const before = acked.length;
    await storm(statuses);
    acked.splice(before); // statuses have no inbound row of their own
    const { rows } = await stack.sql.query(`select count(*)::int as n from whatsapp_status_events`);
    c.check('each (message, status) pair stored once', rows[0].n <= statuses.length, `${rows[0].n} rows for ${statuses.length} distinct statuses`);

    await noInboundLost(stack, c, [...new Set(acked)]);
    const { rows: decisions } = await stack.sql.query(`select booking_id from booking_history where booking_id = any($1) and to_status in ('APPROVED', 'REJECTED') group by 1 having count(*) <> 1`, [ids]);
    c.check('exactly one decision per booking', decisions.length === 0, `${decisions.length} bookings with more or fewer`);
    await noDoubleTransitions(stack, c);
    await noDuplicateSends(stack, c);
    await rowsMatchWorkflows(stack, c, ids);
    await noFailedWorkflows(stack, c);
  } finally {
    await stack.stop();
  }
}

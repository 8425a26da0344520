import { approveId, digits, newGuest } from '../../bench/lib/fixtures';
import { buttonTap, inboundText, newMessageId } from '../../bench/lib/meta';
import { until } from '../../bench/lib/stats';
import type { Checks } from '../checks';
import { startFaultProxy } from '../faultProxy';
import { allReach, noDoubleTransitions, noDuplicateSends, noFailedWorkflows, noInboundLost, rowsMatchWorkflows } from '../invariants';
import { chaosStack, createBookings } from './common';

/**
 * 30% of sends answered 500 or 429 and every send to the second manager refused with
 * 131026: each message still reaches the Graph API exactly once, and bookings progress.
 */
export async function graphFaults(c: Checks) {
  let proxy: Awaited<ReturnType<typeof startFaultProxy>> | undefined;
  const unreachable = '77010000002'; // the second manager seeded by seedRestaurant
  const { stack, r } = await chaosStack('chaos-graph', {
    graphUrl: async (fake) => (proxy = await startFaultProxy(fake, { transientRate: 0.3, undeliverable: [unreachable] })).url,
  });
  try {
    const bookings = await createBookings(stack, r, 20);
    const ids = bookings.map((b) => b.id);
    const acked: string[] = [];
    const post = async (id: string, body: unknown) => {
      if ((await stack.webhook.post(body)) === 200) acked.push(id);
    };
    await Promise.all(bookings.map((b) => ((id) => post(id, inboundText(newGuest(), b.claimText, id)))(newMessageId())));
    await allReach(stack, c, ids, ['PENDING'], 90_000);
    await Promise.all(bookings.map((b) => ((id) => post(id, buttonTap(digits(r.managers[0].phone), approveId(b.id), id)))(newMessageId())));
    await allReach(stack, c, ids, ['APPROVED'], 90_000);
    c.check('nothing accepted for the 131026 manager', !stack.graph.accepted.some((m) => m.to === unreachable));
    // The status changes before the guest's message goes out, and retries back off: wait for them.
    const told = async () =>
      (
        await stack.sql.query(
          `select count(distinct booking_id)::int as n from whatsapp_messages where direction = 'out' and purpose = 'guestApproved' and provider_message_id is not null and booking_id = any($1)`,
          [ids],
        )
      ).rows[0].n as number;
    const guestsTold = await until('every guest told', async () => ((await told()) === ids.length ? ids.length : undefined), 90_000, 500).catch(told);
    c.check('every guest got the approval despite the faults', guestsTold === ids.length, `${guestsTold}/${ids.length}`);
    const injected = proxy!.injected;
    c.check('faults were injected', injected.status500 + injected.status429 > 0 && injected.code131026 > 0, JSON.stringify(injected));
    await noDuplicateSends(stack, c);
    await noInboundLost(stack, c, acked);
    await noDoubleTransitions(stack, c);
    await rowsMatchWorkflows(stack, c, ids);
    await noFailedWorkflows(stack, c);
  } finally {
    await stack.stop();
    await proxy?.close();
  }
}

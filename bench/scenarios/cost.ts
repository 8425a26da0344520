import { temporal } from '@temporalio/proto';
import { flow } from './flows';
import type { Restaurant, SendWatch } from '../lib/fixtures';
import type { Stack } from '../lib/stack';
import { sleep } from '../lib/stats';

/**
 * What one approved booking costs, measured: its workflow history by event type (workflow
 * tasks, activities, local activities, timers, signals) and its rows in each table. The
 * figures docs/scaling.md sizes a cluster from.
 */
export async function bookingCost(stack: Stack, r: Restaurant, watch: SendWatch) {
  const before = stack.graph.accepted.length;
  await flow(stack, r, watch, true);
  await sleep(2000); // the acks and the guest's message after the decision
  const { rows: latest } = await stack.sql.query(`select max(id) as id from bookings`);
  const id = Number(latest[0].id);
  const history = await stack.client.workflow.getHandle(`booking-${id}`).fetchHistory();
  const events = new Map<string, number>();
  const activities: string[] = [];
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (scheduled) activities.push(scheduled);
    const name = temporal.api.enums.v1.EventType[e.eventType ?? 0].replace(/^EVENT_TYPE_/, '');
    events.set(name, (events.get(name) ?? 0) + 1);
  }
  const count = async (sql: string) => Number((await stack.sql.query(sql, [id])).rows[0].n);
  const rows = {
    bookings: 1,
    booking_items: await count(`select count(*) as n from booking_items where booking_id = $1`),
    booking_history: await count(`select count(*) as n from booking_history where booking_id = $1`),
    'whatsapp_messages (in)': await count(`select count(*) as n from whatsapp_messages where booking_id = $1 and direction = 'in'`),
    'whatsapp_messages (out)': await count(`select count(*) as n from whatsapp_messages where booking_id = $1 and direction = 'out'`),
  };
  const { rows: sent } = await stack.sql.query(`select purpose from whatsapp_messages where booking_id = $1 and direction = 'out' order by id`, [id]);
  const historyBytes = temporal.api.history.v1.History.encode(history).finish().length;
  return { bookingId: id, historyBytes, activities, purposes: sent.map((m) => m.purpose as string), historyEvents: history.events?.length ?? 0, events: Object.fromEntries([...events].sort()), rows, graphSends: stack.graph.accepted.length - before };
}

export function printCost(cost: Awaited<ReturnType<typeof bookingCost>>) {
  console.log(`\none approved booking (#${cost.bookingId}, still open until its visit ends): ${cost.historyEvents} history events, ${(cost.historyBytes / 1024).toFixed(1)} KiB encoded`);
  for (const [name, n] of Object.entries(cost.events)) console.log(`  ${String(n).padStart(3)}  ${name}`);
  console.log(`activities: ${cost.activities.join(', ')}; messages: ${cost.purposes.join(', ')}`);
  console.log(`rows: ${Object.entries(cost.rows).map(([t, n]) => `${t} ${n}`).join(', ')}; Graph API sends ${cost.graphSends}`);
}

import { inboundText, newMessageId, statusUpdate, type WebhookSender } from '../lib/meta';
import { closedLoop, openLoop, percentiles } from '../lib/stats';

const STATUSES = ['sent', 'delivered', 'read'] as const;

/**
 * Meta's mix: each message we send comes back as three statuses, and guests write roughly
 * once per message they get; so three status deliveries to one inbound message. Inbound
 * texts come from a spread of phones so no single sender's ordering serialises them.
 */
export function metaMix(i: number) {
  if (i % 4 === 3) return inboundText(`4470000${String(i % 5000).padStart(5, '0')}`, `hello ${i}`);
  return statusUpdate(newMessageId(), STATUSES[i % 4], '447000000001');
}

async function expect200(sender: WebhookSender, body: unknown) {
  const status = await sender.post(body);
  if (status !== 200) throw new Error(`webhook answered ${status}`);
}

/** Deliveries per second and their p99 at a fixed number in flight (closed loop). */
export async function ingestClosed(sender: WebhookSender, total: number, concurrency: number, first = 0) {
  const r = await closedLoop(total, concurrency, (i) => expect200(sender, metaMix(first + i)));
  return { perSecond: r.perSecond, seconds: r.seconds, latencies: r.latencies, ...percentiles(r.latencies) };
}

/** Ack latency at an offered rate, whatever the server's pace (open loop). */
export async function ingestOpen(sender: WebhookSender, rate: number, seconds: number) {
  const r = await openLoop(rate, seconds, (i) => expect200(sender, metaMix(i + 1_000_000)));
  return percentiles(r.latencies);
}

import { inboundText } from '../lib/meta';
import type { Restaurant, SendWatch } from '../lib/fixtures';
import type { Stack } from '../lib/stack';
import { closedLoop, percentiles } from '../lib/stats';
import { flow } from './flows';

/**
 * One phone sends `messages` texts as fast as the webhook takes them while other guests
 * claim their bookings one after another: the others' claim → manager latency must not
 * queue behind the flood.
 */
export async function floodFairness(stack: Stack, r: Restaurant, watch: SendWatch, messages: number, guests: number) {
  const flooder = '447999000001';
  const flood = closedLoop(messages, 16, (i) => stack.webhook.post(inboundText(flooder, `spam ${i}`)));
  // Let the flood build up a backlog first; the guests then claim while it is sent and worked off.
  await new Promise((r) => setTimeout(r, 500));
  const times: number[] = [];
  for (let i = 0; i < guests; i++) times.push((await flow(stack, r, watch, false)).claimToManager);
  await flood;
  return percentiles(times);
}

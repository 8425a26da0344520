/**
 * The floors' workflows: the least a Temporal workflow can do for the same step of a booking,
 * so each figure of the real system is read against what this machine and this Temporal
 * server allow at that moment.
 */
import { condition, defineSignal, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type * as activities from './activities';

export const pingSignal = defineSignal('ping');

/** Completes after `signals` pings: the raw-signal floor of "claims and taps acted on". */
export async function floorSignals(signals: number): Promise<void> {
  let received = 0;
  setHandler(pingSignal, () => void received++);
  await condition(() => received >= signals);
}

const { postToSink } = proxyLocalActivities<typeof activities>({ startToCloseTimeout: '10s' });

/** On a ping, one local activity POSTs to the sink: the floor of "claim → manager message POSTed". */
export async function floorNotify(sinkUrl: string, id: string): Promise<void> {
  let pinged = false;
  setHandler(pingSignal, () => void (pinged = true));
  await condition(() => pinged);
  await postToSink(sinkUrl, id);
}

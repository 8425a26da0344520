import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { BOOKING_NOT_FOUND, PERMANENT_SEND_FAILURE } from '../domain/notifications';

/**
 * How the booking workflow reaches the outside world: one proxy per retry policy.
 *
 * Database work runs as LOCAL activities: each ordinary activity costs a round trip through
 * the server's task queue (README: "Latency"), and a claim or a decision must reach people
 * quickly. A local activity is recorded as a marker in the same workflow task. It retries
 * with no overall limit: a booking waits for Postgres instead of giving up on it, and a long
 * backoff turns into a durable timer, so a worker restart in between loses nothing.
 */
export const database = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * Workflows that began before the local-steps patch scheduled these as ordinary activities;
 * replaying them must schedule the same commands (workflows/booking.ts, LOCAL_STEPS_PATCH).
 */
export const legacyDatabase = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** A message retried past this point would arrive too late to matter however useful it was. */
const MIN_MESSAGE_WINDOW_MS = 60_000;

/**
 * Messages: WhatsApp can be slow or rate-limited, so a send retries for as long as the
 * message is still useful, until `usefulUntil` (a request until the owners take over, a
 * guest's answer until the visit starts), and at least a minute. Permanent refusals (bad
 * number, policy) stop at once. Only the schedule-to-close differs per call, hence a factory.
 */
export function messagesUntil(usefulUntil: number) {
  return proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: Math.max(usefulUntil - Date.now(), MIN_MESSAGE_WINDOW_MS),
    retry: {
      initialInterval: '2 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      nonRetryableErrorTypes: [PERMANENT_SEND_FAILURE, BOOKING_NOT_FOUND],
    },
  });
}

import { msOptionalToNumber } from '@temporalio/common/lib/time';
import { ActivityFailure, ApplicationFailure, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
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
const MESSAGE_RETRY = { initialMs: 2_000, coefficient: 2, maxMs: 60_000 };
const MESSAGE_NON_RETRYABLE = [PERMANENT_SEND_FAILURE, BOOKING_NOT_FOUND];

type MessageActivities = Pick<Activities, 'notifyManagers' | 'notifyGuest' | 'notifyPerson' | 'resendAsTemplate'>;

/**
 * Messages: WhatsApp can be slow or rate-limited, so a send retries for as long as the
 * message is still useful, until `usefulUntil` (a request until the owners take over, a
 * guest's answer until the visit starts), and at least a minute. Permanent refusals (bad
 * number, policy) stop at once. Only the deadline differs per call, hence a factory.
 *
 * `local`: a send is one short HTTP call, so it runs as a local activity and leaves from the
 * workflow task that decided it: no trip through the activity task queue and no workflow task
 * to record its completion, so a claim reaches the managers within one workflow task. Its
 * retries are this workflow's (`retriedUntil`): each wait is a durable timer, so a waiting send
 * holds no workflow task open and a worker restart loses none of it, and the deadline is
 * workflow time. Histories recorded before the visit patch scheduled ordinary activities
 * (workflows/booking.ts), retried by the server with the same schedule.
 */
export function messagesUntil(usefulUntil: number, o: { local: boolean }): MessageActivities {
  if (!o.local) {
    return proxyActivities<Activities>({
      startToCloseTimeout: '30 seconds',
      scheduleToCloseTimeout: Math.max(usefulUntil - Date.now(), MIN_MESSAGE_WINDOW_MS),
      retry: {
        initialInterval: MESSAGE_RETRY.initialMs,
        backoffCoefficient: MESSAGE_RETRY.coefficient,
        maximumInterval: MESSAGE_RETRY.maxMs,
        nonRetryableErrorTypes: MESSAGE_NON_RETRYABLE,
      },
    });
  }
  const giveUpAt = Math.max(usefulUntil, Date.now() + MIN_MESSAGE_WINDOW_MS);
  const retried =
    <A extends unknown[], R>(send: (...args: A) => Promise<R>) =>
    (...args: A) =>
      retriedUntil(giveUpAt, () => send(...args));
  return {
    notifyManagers: retried(sendOnce.notifyManagers),
    notifyGuest: retried(sendOnce.notifyGuest),
    notifyPerson: retried(sendOnce.notifyPerson),
    resendAsTemplate: retried(sendOnce.resendAsTemplate),
  };
}

const sendOnce = proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } });

async function retriedUntil<R>(giveUpAt: number, send: () => Promise<R>): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      if (cause instanceof ApplicationFailure && (cause.nonRetryable || MESSAGE_NON_RETRYABLE.includes(cause.type ?? ''))) throw err;
      // A delay the failure asks for (Meta's rate limits, a WhatsApp Web session that is not
      // working, our own pacing) wins over the schedule, as the server's retries honour it.
      const asked = cause instanceof ApplicationFailure ? (msOptionalToNumber(cause.nextRetryDelay) ?? 0) : 0;
      const backoff = Math.max(asked, Math.min(MESSAGE_RETRY.initialMs * MESSAGE_RETRY.coefficient ** (attempt - 1), MESSAGE_RETRY.maxMs));
      if (Date.now() + backoff >= giveUpAt) throw err;
      await sleep(backoff);
    }
  }
}

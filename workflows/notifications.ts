import { condition, log } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { NotifyFacts, NotifyManagersResult } from '../activities/notify';
import type { MembershipRole } from '../domain/booking';
import type { NotificationPurpose } from '../domain/notifications';
import { database, messagesUntil } from './steps';

type PersonMessage = Omit<Parameters<Activities['notifyPerson']>[0], 'bookingId'>;
/** replyTo: the guest's tap this answers; round: tells repeated sends of one purpose apart (reminders). */
type GuestMessageOptions = Pick<Parameters<Activities['notifyGuest']>[0], 'replyTo' | 'round'>;

export interface Sends {
  /** Runs `work` beside the message loop (or in line, for histories recorded before that). */
  later(work: () => Promise<unknown>): Promise<void>;
  managers(purpose: NotificationPurpose, roles: MembershipRole[], usefulUntil: number, facts?: NotifyFacts): Promise<NotifyManagersResult>;
  /** Guest messages leave in the order they were asked for, even when one of them retries. */
  guest(purpose: NotificationPurpose, usefulUntil: number, facts?: NotifyFacts, extra?: GuestMessageOptions): Promise<void>;
  person(message: PersonMessage, usefulUntil: number): Promise<void>;
  resendAsTemplate(idempotencyKey: string, usefulUntil: number): Promise<void>;
  /** Resolves once every send started with `later` has finished. */
  settled(): Promise<void>;
}

/**
 * Sending to people, where WhatsApp trouble must never derail the booking: a send that is
 * still failing when it stops being useful is logged, recorded on its message rows with a
 * metric (`recordUndelivered`), and the booking goes on.
 *
 * `background`: sends run beside the message loop, so a manager's tap is acted on while the
 * guest's message is still retrying. Histories recorded before that awaited each send in line
 * (and did not record failures), and replaying them must issue the same commands.
 */
export function createSends(bookingId: number, opts: { background: boolean; localSends: boolean }): Sends {
  const messages = (usefulUntil: number) => messagesUntil(usefulUntil, { local: opts.localSends });
  const pending = new Set<Promise<void>>();
  let guestLine: Promise<void> = Promise.resolve();

  async function attempt<T>(purpose: NotificationPurpose, fallback: T, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      const error = String(err instanceof Error && err.cause ? err.cause : err);
      log.error(`${purpose} could not be delivered`, { bookingId, purpose, error });
      if (opts.background) await database.recordUndelivered({ bookingId, purpose, error });
      return fallback;
    }
  }

  function later(work: () => Promise<unknown>): Promise<void> {
    const done = work().then(() => undefined);
    if (!opts.background) return done;
    pending.add(done);
    void done.finally(() => pending.delete(done));
    return Promise.resolve();
  }

  return {
    later,
    managers: (purpose, roles, usefulUntil, facts) =>
      attempt(purpose, { sent: 0, failed: [] }, async () => {
        const result = await messages(usefulUntil).notifyManagers({ bookingId, purpose, roles, facts });
        if (result.failed.length) log.warn(`${purpose}: ${result.failed.length} recipient(s) refused`, { bookingId });
        return result;
      }),
    guest(purpose, usefulUntil, facts, extra) {
      const send = () => attempt(purpose, undefined, () => messages(usefulUntil).notifyGuest({ bookingId, purpose, facts, ...extra }));
      if (!opts.background) return send().then(() => undefined);
      guestLine = guestLine.then(send).then(() => undefined);
      return later(() => guestLine);
    },
    person: (message, usefulUntil) =>
      attempt(message.purpose, undefined, () => messages(usefulUntil).notifyPerson({ bookingId, ...message })).then(() => undefined),
    resendAsTemplate: (idempotencyKey, usefulUntil) =>
      attempt('managerRequest', undefined, () => messages(usefulUntil).resendAsTemplate({ bookingId, idempotencyKey })).then(
        () => undefined,
      ),
    settled: () => condition(() => pending.size === 0),
  };
}

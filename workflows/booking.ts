import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Actor, BookingStatus } from '../domain/booking';
import { canTransition } from '../domain/booking';
import { BOOKING_NOT_FOUND, PERMANENT_SEND_FAILURE, type NotificationPurpose } from '../domain/notifications';
import { BookingStatusKey } from '../temporal/searchAttributes';
import { OUTSIDE_WINDOW } from '../whatsapp/errors';
import {
  approveSignal,
  approveUpdate,
  cancelSignal,
  cancelUpdate,
  claimSignal,
  claimUpdate,
  deliveryFailedSignal,
  rejectSignal,
  rejectUpdate,
  statusQuery,
  type ApproveInput,
  type BookingState,
  type BookingWorkflowInput,
  type CancelInput,
  type ClaimInput,
  type DeliveryFailedInput,
  type RejectInput,
  type UpdateOutcome,
} from './definitions';

// Database work: short, and retried for as long as Postgres is away; the booking waits.
const db = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

// Messages: WhatsApp can be slow or rate-limited; permanent refusals (bad number, policy) stop at once.
const messages = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '15 minutes',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [PERMANENT_SEND_FAILURE, BOOKING_NOT_FOUND],
  },
});

// The API commits the row and starts us in one transaction: give a slow commit a minute.
const rowCheck = proxyActivities<Activities>({
  startToCloseTimeout: '5 seconds',
  scheduleToCloseTimeout: '1 minute',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds' },
});

type Message =
  | { kind: 'claim'; input: ClaimInput; done?: () => void }
  | { kind: 'approve'; input: ApproveInput; done?: () => void }
  | { kind: 'reject'; input: RejectInput; done?: () => void }
  | { kind: 'cancel'; input: CancelInput; done?: () => void }
  | { kind: 'deliveryFailed'; input: DeliveryFailedInput };

/**
 * One restaurant booking, from the website's DRAFT to the guest's answer.
 *
 * 1. DRAFT: the guest has until the claim deadline to send the claim text from WhatsApp.
 * 2. PENDING: the guest is known; managers are asked, reminded, then owners are asked too;
 *    without an answer the booking expires.
 * 3. Decided: the guest hears the outcome. Until the visit is over the workflow stays to
 *    cancel an approved booking and to answer late taps politely.
 */
export async function bookingWorkflow(input: BookingWorkflowInput): Promise<BookingStatus> {
  const { bookingId } = input;
  const startsAt = Date.parse(input.startsAt);
  const visitEndsAt = Date.parse(input.visitEndsAt);
  const latestExpiry = startsAt - input.timing.expireBeforeStartMs;

  const state: BookingState = {
    bookingId,
    status: 'DRAFT',
    deadlines: { claimBy: input.claimExpiresAt, visitEndsAt: input.visitEndsAt },
  };
  const inbox: Message[] = [];
  // Meta redelivers and people tap twice: a message id is acted on once.
  const seenMessageIds = new Set<string>();
  // Set once the visit is over: updates arriving after that are refused, not left waiting.
  let closed = false;

  setHandler(statusQuery, () => state);
  setHandler(claimSignal, (m) => void inbox.push({ kind: 'claim', input: m }));
  setHandler(approveSignal, (m) => void inbox.push({ kind: 'approve', input: m }));
  setHandler(rejectSignal, (m) => void inbox.push({ kind: 'reject', input: m }));
  setHandler(cancelSignal, (m) => void inbox.push({ kind: 'cancel', input: m }));
  setHandler(deliveryFailedSignal, (m) => void inbox.push({ kind: 'deliveryFailed', input: m }));

  // Updates give admin routes the real outcome; validators refuse what the status forbids.
  const settle =
    <T>(kind: Exclude<Message['kind'], 'deliveryFailed'>) =>
    async (m: T): Promise<UpdateOutcome> => {
      let applied = false;
      inbox.push({ kind, input: m, done: () => (applied = true) } as Message);
      await condition(() => applied || closed);
      return { status: state.status };
    };
  const refuseUnless = (allowed: boolean, what: string) => {
    if (!allowed || closed) throw ApplicationFailure.nonRetryable(`cannot ${what} a ${state.status} booking`, 'NotAllowedInStatus');
  };
  setHandler(claimUpdate, settle<ClaimInput>('claim'), {
    validator: (m) => refuseUnless(state.status === 'DRAFT' || state.guest?.phone === m.phone, 'claim'),
  });
  setHandler(approveUpdate, settle<ApproveInput>('approve'), {
    validator: (_m: ApproveInput) => refuseUnless(state.status === 'PENDING', 'approve'),
  });
  setHandler(rejectUpdate, settle<RejectInput>('reject'), {
    validator: (_m: RejectInput) => refuseUnless(state.status === 'PENDING', 'reject'),
  });
  setHandler(cancelUpdate, settle<CancelInput>('cancel'), {
    validator: (_m: CancelInput) => refuseUnless(canTransition(state.status, 'CANCELLED'), 'cancel'),
  });

  async function moveTo(to: BookingStatus, actor: Actor, extra: { reason?: string; clientId?: number; decision?: boolean } = {}) {
    const result = await db.transition({ bookingId, from: state.status, to, actor, ...extra });
    if (!result.applied) return result;
    state.status = to;
    upsertSearchAttributes([{ key: BookingStatusKey, value: to }]);
    showDetails();
    return result;
  }

  function showDetails() {
    const d = state.deadlines;
    setCurrentDetails(
      [
        `**Status:** ${state.status}`,
        state.decision && `**Decided by:** ${state.decision.actor.name ?? state.decision.actor.type}`,
        state.status === 'DRAFT' && d.claimBy && `Claim by ${d.claimBy}`,
        state.status === 'PENDING' && d.expireAt && `Reminder ${d.remindAt} · owners ${d.escalateAt} · expires ${d.expireAt}`,
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }

  // ---- 1. The guest claims the booking from WhatsApp ----------------------------------
  async function claim(m: ClaimInput) {
    if (state.status !== 'DRAFT') {
      if (state.guest?.phone === m.phone) return; // the same guest again: nothing to do
      const purpose: NotificationPurpose = state.status === 'EXPIRED' && !state.guest ? 'claimInvalid' : 'claimRefused';
      await tell({ purpose, phone: m.phone, role: 'guest', replyTo: m.messageId });
      return;
    }
    const { clientId } = await db.upsertGuest({ phone: m.phone, name: m.name });
    const moved = await moveTo('PENDING', { type: 'guest', id: clientId, name: m.name }, { clientId });
    if (!moved.applied) {
      // Another guest's claim for an overlapping slot of this table won the race.
      await moveTo('EXPIRED', { type: 'system' }, { reason: 'table_taken', clientId });
      await tell({ purpose: 'guestExpired', phone: m.phone, role: 'guest', facts: { reason: 'table_taken' } });
      return;
    }
    state.guest = { phone: m.phone, name: m.name, clientId };
    const pendingSince = Date.now();
    const at = (ms: number) => new Date(Math.min(pendingSince + ms, latestExpiry)).toISOString();
    state.deadlines = {
      ...state.deadlines,
      remindAt: at(input.timing.decisionReminderAfterMs),
      escalateAt: at(input.timing.escalateAfterMs),
      expireAt: at(input.timing.decisionTimeoutMs),
    };
    showDetails();
    const asked = await notifyManagers('managerRequest', ['manager']);
    // Nobody could be reached: do not wait for the reminder, ask the owners now.
    if (asked.sent === 0) await notifyManagers('escalation', ['owner']);
    await messageGuest('guestWaiting');
  }

  // ---- 2. A manager decides; the first decision wins ----------------------------------
  async function decide(to: 'APPROVED' | 'REJECTED', m: ApproveInput | RejectInput) {
    const reason = 'reason' in m ? m.reason : undefined;
    if (state.status !== 'PENDING') {
      if (state.status === 'DRAFT') return log.warn('decision before the guest claimed; ignored', { bookingId });
      await tellDecider(m, 'alreadyDecided');
      return;
    }
    const moved = await moveTo(to, m.actor, { reason, decision: true });
    if (!moved.applied) return;
    state.decision = { status: to, actor: m.actor, reason, at: new Date().toISOString() };
    showDetails();
    await messageGuest(to === 'APPROVED' ? 'guestApproved' : 'guestRejected', { reason });
    await tellDecider(m, 'decisionAck');
  }

  async function cancel(m: CancelInput) {
    if (!canTransition(state.status, 'CANCELLED')) return;
    const moved = await moveTo('CANCELLED', m.actor, { reason: m.reason });
    if (!moved.applied) return;
    if (m.actor.type !== 'guest') await messageGuest('guestCancelled', { reason: m.reason });
    await notifyManagers('managerCancelled', ['manager'], { reason: m.reason });
  }

  // ---- 3. Nobody answered in time -----------------------------------------------------
  async function expire(reason: string) {
    const moved = await moveTo('EXPIRED', { type: 'system' }, { reason });
    if (!moved.applied || !state.guest) return;
    await messageGuest('guestExpired');
    await notifyManagers('managerExpired', ['manager', 'owner']);
  }

  // ---- messages, where a refusal from WhatsApp must not derail the booking --------------
  async function notifyManagers(purpose: NotificationPurpose, roles: ('manager' | 'owner')[], facts?: { reason?: string }) {
    try {
      const result = await messages.notifyManagers({ bookingId, purpose, roles, facts });
      if (result.failed.length) log.warn(`${purpose}: ${result.failed.length} recipient(s) refused`, { bookingId });
      return result;
    } catch (err) {
      log.error(`${purpose} could not be sent`, { bookingId, error: String(err) });
      return { sent: 0, failed: [] };
    }
  }

  async function messageGuest(purpose: NotificationPurpose, facts?: { reason?: string }) {
    try {
      await messages.notifyGuest({ bookingId, purpose, facts: { ...facts, decision: state.status } });
    } catch (err) {
      log.error(`${purpose} could not be sent to the guest`, { bookingId, error: String(err) });
    }
  }

  async function tell(a: Omit<Parameters<Activities['notifyPerson']>[0], 'bookingId'>) {
    try {
      await messages.notifyPerson({ bookingId, ...a });
    } catch (err) {
      log.error(`${a.purpose} could not be sent`, { bookingId, error: String(err) });
    }
  }

  async function tellDecider(m: ApproveInput | RejectInput, purpose: 'decisionAck' | 'alreadyDecided') {
    if (!m.actor.phone) return; // decided from the admin API: the HTTP answer is the acknowledgement
    const decidedBy = state.decision?.actor.name ?? state.decision?.actor.type;
    await tell({ purpose, phone: m.actor.phone, role: m.actor.type === 'owner' ? 'owner' : 'manager', replyTo: m.messageId, facts: { decision: state.status, decidedBy } });
  }

  async function handle(message: Message) {
    const id = 'messageId' in message.input ? message.input.messageId : undefined;
    if (id && seenMessageIds.has(id)) return;
    if (id) seenMessageIds.add(id);
    switch (message.kind) {
      case 'claim':
        return claim(message.input);
      case 'approve':
        return decide('APPROVED', message.input);
      case 'reject':
        return decide('REJECTED', message.input);
      case 'cancel':
        return cancel(message.input);
      case 'deliveryFailed':
        if (state.status === 'PENDING' && message.input.errorCode === OUTSIDE_WINDOW) {
          await messages.resendAsTemplate({ bookingId, idempotencyKey: message.input.idempotencyKey }).catch((err) =>
            log.error('template fallback failed', { bookingId, error: String(err) }),
          );
        }
    }
  }

  /** Handles messages in arrival order until `done()` holds or the deadline passes. */
  async function serveUntil(deadline: number, done: () => boolean): Promise<void> {
    while (!done()) {
      while (inbox.length > 0) {
        const message = inbox.shift()!;
        await handle(message);
        if ('done' in message) message.done?.();
        if (done()) return;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return;
      await condition(() => inbox.length > 0 || done(), remaining);
    }
  }

  // ---- the story ------------------------------------------------------------------------
  showDetails();
  await rowCheck.awaitBookingRow(bookingId);

  const claimBy = Date.parse(input.claimExpiresAt);
  await serveUntil(claimBy, () => state.status !== 'DRAFT');
  if (state.status === 'DRAFT') await expire('not_claimed');

  const decided = () => state.status !== 'PENDING';
  if (state.status === 'PENDING') {
    await serveUntil(Date.parse(state.deadlines.remindAt!), decided);
    if (state.status === 'PENDING' && Date.now() < latestExpiry) await notifyManagers('managerReminder', ['manager']);
    await serveUntil(Date.parse(state.deadlines.escalateAt!), decided);
    if (state.status === 'PENDING' && Date.now() < latestExpiry) await notifyManagers('escalation', ['owner']);
    await serveUntil(Date.parse(state.deadlines.expireAt!), decided);
    if (state.status === 'PENDING') await expire('no_decision');
  }

  // Late taps, a cancelled approval and guests resending their code still get an answer.
  await serveUntil(visitEndsAt, () => false);
  closed = true;
  await condition(allHandlersFinished);
  return state.status;
}

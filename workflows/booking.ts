import { allHandlersFinished, condition, log, patched, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { LoadedBooking } from '../activities/bookings';
import type { Actor, BookingStatus } from '../domain/booking';
import { canTransition, isFinal } from '../domain/booking';
import type { NotificationPurpose } from '../domain/notifications';
import { BookingStatusKey } from '../temporal/searchAttributes';
import { OUTSIDE_WINDOW } from '../whatsapp/errors';
import type { ApproveInput, BookingState, BookingWorkflowInput, CancelInput, ClaimInput, RejectInput } from './definitions';
import { startMessageLoop, type Message } from './messageLoop';
import { createSends } from './notifications';
import { database, legacyDatabase } from './steps';

/**
 * Histories recorded before this patch ran every database step as an ordinary activity,
 * waited at most a minute for the row, and awaited each message in line. They replay on
 * that path; every new booking takes the one below (local steps, resume from the row,
 * messages beside the loop, undelivered messages recorded).
 */
export const LOCAL_STEPS_PATCH = 'local-steps-resume-from-row';

/** A reply to someone who just wrote to us is worth retrying for a while, not for days. */
const REPLY_USEFUL_MS = 15 * 60_000;

/**
 * One restaurant booking, from the website's DRAFT to the guest's answer.
 *
 * 0. The row says where the booking stands (the API commits it before starting us, and a
 *    reconciler may start us for a row in any status): resume from there.
 * 1. DRAFT: the guest has until the claim deadline to send the claim text from WhatsApp.
 * 2. PENDING: the guest is known; managers are asked, reminded, then owners are asked too;
 *    without an answer the booking expires.
 * 3. Decided: the guest hears the outcome. Until the visit is over the workflow stays to
 *    cancel an approved booking and to answer late taps politely.
 */
export async function bookingWorkflow(input: BookingWorkflowInput): Promise<BookingStatus | undefined> {
  const localSteps = patched(LOCAL_STEPS_PATCH);
  const { bookingId } = input;
  const startsAt = Date.parse(input.startsAt);
  const visitEndsAt = Date.parse(input.visitEndsAt);
  const latestExpiry = startsAt - input.timing.expireBeforeStartMs;

  const state: BookingState = {
    bookingId,
    status: 'DRAFT',
    deadlines: { claimBy: input.claimExpiresAt, visitEndsAt: input.visitEndsAt },
  };
  const db = localSteps ? database : legacyDatabase;
  const sends = createSends(bookingId, { background: localSteps });
  const loop = startMessageLoop(state, handle);
  showDetails();

  // ---- 0. Where the booking stands --------------------------------------------------------
  if (localSteps) {
    const row = await database.loadBooking(bookingId);
    if (!row) {
      log.warn('no booking row: ending without side effects', { bookingId });
      return undefined;
    }
    resumeFrom(row);
    if (isFinal(state.status)) return state.status; // decided and told before this run: nothing to do
    if (state.status === 'PENDING') {
      // The claim may never have reached the managers; sends are idempotent, so ask again.
      startDecisionClock();
      await askManagersAndReassureGuest();
    }
  } else {
    await legacyDatabase.awaitBookingRow(bookingId);
  }

  // ---- 1. The guest claims the booking from WhatsApp -----------------------------------------
  if (state.status === 'DRAFT') {
    await loop.serveUntil(Date.parse(input.claimExpiresAt), () => state.status !== 'DRAFT');
    if (state.status === 'DRAFT') await expire('not_claimed');
  }

  // ---- 2. Managers decide; reminders, the owners, then expiry if nobody does ---------------
  if (state.status === 'PENDING') {
    const { remindAt, escalateAt, expireAt } = pendingDeadlines();
    await loop.serveUntil(remindAt, decided);
    if (!decided() && Date.now() < latestExpiry) await sends.later(() => sends.managers('managerReminder', ['manager'], escalateAt));
    await loop.serveUntil(escalateAt, decided);
    if (!decided() && Date.now() < latestExpiry) await sends.later(() => sends.managers('escalation', ['owner'], expireAt));
    await loop.serveUntil(expireAt, decided);
    if (!decided()) await expire('no_decision');
  }

  // ---- 3. Until the visit is over: late taps, a cancelled approval, guests writing again ----
  await loop.serveUntil(visitEndsAt, () => false);
  loop.close();
  await sends.settled();
  await condition(allHandlersFinished);
  return state.status;

  // ==== the steps ==============================================================================

  function decided() {
    return state.status !== 'PENDING';
  }

  async function handle(message: Message): Promise<boolean> {
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
          const key = message.input.idempotencyKey;
          await sends.later(() => sends.resendAsTemplate(key, pendingDeadlines().expireAt));
        }
        return true;
    }
  }

  async function claim(m: ClaimInput): Promise<boolean> {
    if (state.status !== 'DRAFT') {
      if (state.guest?.phone === m.phone) return true; // the same guest again: already theirs
      const purpose: NotificationPurpose = state.status === 'EXPIRED' && !state.guest ? 'claimInvalid' : 'claimRefused';
      await sends.later(() => sends.person({ purpose, phone: m.phone, role: 'guest', replyTo: m.messageId }, Date.now() + REPLY_USEFUL_MS));
      return false;
    }
    const moved = localSteps ? await claimInOneStep(m) : await legacyClaim(m);
    if (!moved.applied) {
      // Another guest's claim for an overlapping slot of this table won the race.
      await moveTo('EXPIRED', { type: 'system' }, { reason: 'table_taken', clientId: moved.clientId });
      await sends.later(() =>
        sends.person({ purpose: 'guestExpired', phone: m.phone, role: 'guest', facts: { reason: 'table_taken' } }, startsAt),
      );
      return false;
    }
    state.guest = { phone: m.phone, name: m.name, clientId: moved.clientId };
    startDecisionClock();
    await askManagersAndReassureGuest();
    return true;
  }

  async function claimInOneStep(m: ClaimInput) {
    const moved = await database.claimForGuest({ bookingId, phone: m.phone, name: m.name });
    if (moved.applied) entered('PENDING');
    return moved;
  }

  async function legacyClaim(m: ClaimInput) {
    const { clientId } = await legacyDatabase.upsertGuest({ phone: m.phone, name: m.name });
    const moved = await moveTo('PENDING', { type: 'guest', id: clientId, name: m.name }, { clientId });
    return { ...moved, clientId };
  }

  async function askManagersAndReassureGuest() {
    const { remindAt, expireAt } = pendingDeadlines();
    await sends.later(async () => {
      // Worth retrying until the reminder goes out; if nobody has it by then (or every
      // manager was refused), do not wait for the escalation: ask the owners now.
      const asked = await sends.managers('managerRequest', ['manager'], remindAt);
      if (asked.sent === 0 && !decided()) await sends.managers('escalation', ['owner'], expireAt);
    });
    await sends.guest('guestWaiting', expireAt, { decision: state.status });
  }

  /** The first decision wins; a later one is answered with what happened. */
  async function decide(to: 'APPROVED' | 'REJECTED', m: ApproveInput | RejectInput): Promise<boolean> {
    const reason = 'reason' in m ? m.reason : undefined;
    if (state.status !== 'PENDING') {
      if (state.status === 'DRAFT') log.warn('decision before the guest claimed; ignored', { bookingId });
      else await tellDecider(m, 'alreadyDecided');
      return false;
    }
    const moved = await moveTo(to, m.actor, { reason, decision: true });
    if (!moved.applied) return false;
    state.decision = { status: to, actor: m.actor, reason, at: new Date().toISOString() };
    showDetails();
    await sends.guest(to === 'APPROVED' ? 'guestApproved' : 'guestRejected', startsAt, { reason, decision: state.status });
    await tellDecider(m, 'decisionAck');
    return true;
  }

  async function tellDecider(m: ApproveInput | RejectInput, purpose: 'decisionAck' | 'alreadyDecided') {
    const phone = m.actor.phone;
    if (!phone) return; // decided from the admin API: the HTTP answer is the acknowledgement
    const decidedBy = state.decision?.actor.name ?? state.decision?.actor.type;
    const role = m.actor.type === 'owner' ? 'owner' : 'manager';
    await sends.later(() =>
      sends.person({ purpose, phone, role, replyTo: m.messageId, facts: { decision: state.status, decidedBy } }, Date.now() + REPLY_USEFUL_MS),
    );
  }

  async function cancel(m: CancelInput): Promise<boolean> {
    if (!canTransition(state.status, 'CANCELLED')) return false;
    const moved = await moveTo('CANCELLED', m.actor, { reason: m.reason });
    if (!moved.applied) return false;
    if (m.actor.type !== 'guest') await sends.guest('guestCancelled', startsAt, { reason: m.reason, decision: state.status });
    await sends.later(() => sends.managers('managerCancelled', ['manager'], startsAt, { reason: m.reason }));
    return true;
  }

  async function expire(reason: string) {
    const moved = await moveTo('EXPIRED', { type: 'system' }, { reason });
    if (!moved.applied || !state.guest) return;
    await sends.guest('guestExpired', startsAt, { decision: state.status });
    await sends.later(() => sends.managers('managerExpired', ['manager', 'owner'], startsAt));
  }

  // ---- state kept in step with the row ------------------------------------------------------

  async function moveTo(to: BookingStatus, actor: Actor, extra: { reason?: string; clientId?: number; decision?: boolean } = {}) {
    const result = await db.transition({ bookingId, from: state.status, to, actor, ...extra });
    if (result.applied) entered(to);
    return result;
  }

  function entered(status: BookingStatus) {
    state.status = status;
    upsertSearchAttributes([{ key: BookingStatusKey, value: status }]);
    showDetails();
  }

  function resumeFrom(row: LoadedBooking) {
    state.guest = row.guest;
    state.decision = row.decision;
    if (row.status !== state.status) entered(row.status);
  }

  /** Reminder, escalation and expiry count from now, and never run past the latest expiry. */
  function startDecisionClock() {
    const at = (ms: number) => new Date(Math.min(Date.now() + ms, latestExpiry)).toISOString();
    state.deadlines = {
      ...state.deadlines,
      remindAt: at(input.timing.decisionReminderAfterMs),
      escalateAt: at(input.timing.escalateAfterMs),
      expireAt: at(input.timing.decisionTimeoutMs),
    };
    showDetails();
  }

  function pendingDeadlines() {
    const d = state.deadlines;
    return { remindAt: Date.parse(d.remindAt!), escalateAt: Date.parse(d.escalateAt!), expireAt: Date.parse(d.expireAt!) };
  }

  /** Operators read this in the Temporal UI: ids and times only, never a name or a phone. */
  function showDetails() {
    const d = state.deadlines;
    const decider = state.decision?.actor;
    setCurrentDetails(
      [
        `**Status:** ${state.status}`,
        decider && `**Decided by:** ${decider.type}${decider.id === undefined ? '' : ` #${decider.id}`}`,
        state.status === 'DRAFT' && d.claimBy && `Claim by ${d.claimBy}`,
        state.status === 'PENDING' && d.expireAt && `Reminder ${d.remindAt} · owners ${d.escalateAt} · expires ${d.expireAt}`,
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }
}

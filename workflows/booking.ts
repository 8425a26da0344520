import { allHandlersFinished, condition, log, patched, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { LoadedBooking } from '../activities/bookings';
import type { Actor, BookingStatus } from '../domain/booking';
import { canTransition, isFinal } from '../domain/booking';
import type { NotificationPurpose } from '../domain/notifications';
import { BookingStatusKey } from '../temporal/searchAttributes';
import { OUTSIDE_WINDOW } from '../whatsapp/errors';
import type {
  ApproveInput,
  ArrivalInput,
  BookingState,
  BookingWorkflowInput,
  CancelInput,
  ClaimInput,
  ConfirmVisitInput,
  DeciderActor,
  DeliveryFailedInput,
  RejectInput,
  RejectReasonInput,
} from './definitions';
import { startMessageLoop, type Message } from './messageLoop';
import { createSends } from './notifications';
import { database, legacyDatabase } from './steps';
import { remindersAhead, visitTiming } from './visitSchedule';

/**
 * Histories recorded before this patch ran every database step as an ordinary activity,
 * waited at most a minute for the row, and awaited each message in line. They replay on
 * that path; every new booking takes the one below (local steps, resume from the row,
 * messages beside the loop, undelivered messages recorded).
 */
export const LOCAL_STEPS_PATCH = 'local-steps-resume-from-row';

/**
 * Histories recorded before this patch ended the story at the decision: no reminders, no
 * wait for a reject reason, no arrival check, and a guest's cancel was not checked against
 * the cutoff; their messages went out as ordinary activities, not local ones
 * (workflows/steps.ts). They replay on that path.
 */
export const VISIT_PATCH = 'visit-lifecycle';

interface ReasonWait {
  actor: DeciderActor;
  until: number;
  given?: { code?: RejectReasonInput['code']; text?: string };
}

/** A typed reject reason is passed on to the guest up to this long. */
const MAX_REASON_CHARS = 500;

/** A reply to someone who just wrote to us is worth retrying for a while, not for days. */
const REPLY_USEFUL_MS = 15 * 60_000;

/**
 * One restaurant booking, from the website's DRAFT to the end of the visit.
 *
 * 0. The row says where the booking stands (the API commits it before starting us, and a
 *    reconciler may start us for a row in any status): resume from there.
 * 1. DRAFT: the guest has until the claim deadline to send the claim text from WhatsApp.
 * 2. PENDING: the guest is known; managers are asked, reminded, then owners are asked too;
 *    without an answer the booking expires. The guest hears the outcome; after a Reject in
 *    WhatsApp the deciding manager is asked for a reason, which the guest's message waits for.
 * 3. APPROVED: the guest is reminded before the visit (Confirm / Cancel); a guest may cancel
 *    until the restaurant's cutoff.
 * 4. After the start: managers are asked whether the guest came: SEATED or NO_SHOW.
 * 5. At the end of the slot a seated visit is COMPLETED. Until then the workflow stays to
 *    cancel an approved booking and to answer late taps politely.
 */
export async function bookingWorkflow(input: BookingWorkflowInput): Promise<BookingStatus | undefined> {
  // The visit patch came after the local-steps one and implies it, so a new booking records one
  // patch marker, not two: each comes with a search-attribute upsert, a visibility write.
  const visit = patched(VISIT_PATCH);
  const localSteps = visit || patched(LOCAL_STEPS_PATCH);
  const { bookingId } = input;
  const startsAt = Date.parse(input.startsAt);
  const visitEndsAt = Date.parse(input.visitEndsAt);
  const latestExpiry = startsAt - input.timing.expireBeforeStartMs;
  const timing = visitTiming(input.timing);
  const arrivalCheckAt = startsAt + timing.arrivalCheckAfterMs;

  const state: BookingState = {
    bookingId,
    status: 'DRAFT',
    deadlines: { claimBy: input.claimExpiresAt, visitEndsAt: input.visitEndsAt },
  };
  const db = localSteps ? database : legacyDatabase;
  const sends = createSends(bookingId, { background: localSteps, localSends: visit });
  const loop = startMessageLoop(state, handle, { mayMarkNoShow: () => Date.now() >= startsAt });
  /** After a WhatsApp Reject: whose reason the guest's message waits for, until when, and the reason once given. */
  let reasonWait: ReasonWait | undefined;
  showDetails();

  // ---- 0. Where the booking stands --------------------------------------------------------
  // A booking the API has just created is the DRAFT it committed: nothing to read. Any other
  // start (the reconciler, a retried request) reads the row, which may have moved on.
  if (localSteps && !input.createdByApi) {
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
  } else if (!localSteps) {
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

  // ---- 3. Before the visit: the guest is reminded, and may confirm or cancel -----------------
  if (visit && state.status === 'APPROVED') {
    const reminders = remindersAhead(startsAt, timing.reminderOffsetsMs, Date.now());
    state.deadlines = { ...state.deadlines, reminders: reminders.map((r) => new Date(r.at).toISOString()) };
    showDetails();
    for (const reminder of reminders) {
      await loop.serveUntil(reminder.at, notApproved);
      if (notApproved()) break;
      await remindGuest(reminder.round);
    }
  }

  // ---- 4. After the start: did the guest come? ------------------------------------------------
  if (visit && state.status === 'APPROVED') {
    state.deadlines = { ...state.deadlines, arrivalCheckAt: new Date(arrivalCheckAt).toISOString() };
    showDetails();
    await loop.serveUntil(arrivalCheckAt, notApproved);
    if (!notApproved() && Date.now() < visitEndsAt) await sends.later(askManagersAboutArrival);
  }

  // ---- 5. Until the visit is over: late taps, a cancelled approval, guests writing again ----
  await loop.serveUntil(visitEndsAt, () => false);
  if (visit && state.status === 'SEATED') await moveTo('COMPLETED', { type: 'system' });
  loop.close();
  await sends.settled();
  await condition(allHandlersFinished);
  return state.status;

  // ==== the steps ==============================================================================

  function decided() {
    return state.status !== 'PENDING';
  }

  function notApproved() {
    return state.status !== 'APPROVED';
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
        return visit && message.input.actor.type === 'guest' ? guestCancel(message.input) : cancel(message.input);
      case 'deliveryFailed':
        return deliveryFailed(message.input);
    }
    // Workflows begun before the visit patch never asked for these.
    if (!visit) return false;
    switch (message.kind) {
      case 'confirmVisit':
        return confirmVisit(message.input);
      case 'rejectReason':
        return rejectReason(message.input);
      case 'arrived':
        return markArrival('SEATED', message.input);
      case 'noShow':
        return markArrival('NO_SHOW', message.input);
      case 'fireReminder':
        if (notApproved()) return false;
        await remindGuest(Date.now());
        return true;
    }
  }

  /** 131047: outside the 24-hour window the person gets the approved template instead. */
  async function deliveryFailed(m: DeliveryFailedInput): Promise<boolean> {
    if (m.errorCode !== OUTSIDE_WINDOW) return true;
    const key = m.idempotencyKey;
    if (visit && m.purpose === 'guestReminder') {
      if (!notApproved()) await sends.later(() => sends.resendAsTemplate(key, startsAt));
    } else if (state.status === 'PENDING') {
      await sends.later(() => sends.resendAsTemplate(key, pendingDeadlines().expireAt));
    }
    return true;
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
    if (visit && to === 'REJECTED' && !reason && m.actor.phone) {
      await tellDecider(m, 'decisionAck');
      await askForRejectReason(m);
      return true;
    }
    await sends.guest(to === 'APPROVED' ? 'guestApproved' : 'guestRejected', startsAt, { reason, decision: state.status });
    await tellDecider(m, 'decisionAck');
    return true;
  }

  /**
   * The decision stands already; the deciding manager gets the list of reasons, and the
   * guest's message waits for their pick (or typed text) up to REJECT_REASON_WAIT.
   */
  async function askForRejectReason(m: RejectInput) {
    const wait: ReasonWait = { actor: m.actor, until: Date.now() + timing.rejectReasonWaitMs };
    reasonWait = wait;
    const role = m.actor.type === 'owner' ? 'owner' : 'manager';
    await sends.later(() =>
      sends.person({ purpose: 'rejectReasonRequest', phone: m.actor.phone!, role, replyTo: m.messageId }, wait.until),
    );
    await sends.later(async () => {
      await condition(() => wait.given !== undefined, timing.rejectReasonWaitMs);
      await sends.guest('guestRejected', startsAt, { decision: 'REJECTED', reason: wait.given?.text, reasonCode: wait.given?.code });
    });
  }

  /** Only the manager who rejected, and only while the guest's message still waits. */
  async function rejectReason(m: RejectReasonInput): Promise<boolean> {
    const wait = reasonWait;
    const sameManager = wait && (m.actor.id !== undefined ? m.actor.id === wait.actor.id : m.actor.phone === wait.actor.phone);
    const text = m.text?.trim().slice(0, MAX_REASON_CHARS) || undefined;
    const code = text ? undefined : m.code;
    if (!wait || wait.given || !sameManager || Date.now() > wait.until || (!text && (!code || code === 'other'))) {
      log.info('reject reason not taken: not the decider, already given, too late or empty', { bookingId });
      return false;
    }
    const reason = text ?? code!;
    // Taken now: the guest's message must not leave without it while the row is written.
    wait.given = { code, text };
    if (state.decision) state.decision = { ...state.decision, reason };
    await database.recordRejectReason({ bookingId, reason });
    return true;
  }

  async function tellDecider(
    m: { actor: DeciderActor; messageId?: string },
    purpose: 'decisionAck' | 'alreadyDecided',
    by: { type: string; name?: string } | undefined = state.decision?.actor,
  ) {
    const phone = m.actor.phone;
    if (!phone) return; // decided from the admin API: the HTTP answer is the acknowledgement
    const decidedBy = by?.name ?? by?.type;
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

  /** The guest's Yes to "Cancel your booking?": refused too close to the start. */
  async function guestCancel(m: CancelInput): Promise<boolean> {
    if (!state.guest || m.actor.phone !== state.guest.phone) {
      log.warn('cancel from someone other than the guest; ignored', { bookingId });
      return false;
    }
    if (!canTransition(state.status, 'CANCELLED')) {
      await replyToGuest('guestCancelRefused', m.messageId, { decision: state.status });
      return false;
    }
    if (Date.now() > startsAt - timing.guestCancelCutoffMs) {
      await replyToGuest('guestCancelRefused', m.messageId, { decision: state.status, cutoffMinutes: timing.guestCancelCutoffMs / 60_000 });
      return false;
    }
    const guest = { type: 'guest' as const, id: state.guest.clientId, name: state.guest.name };
    const moved = await moveTo('CANCELLED', guest, { reason: m.reason });
    if (!moved.applied) return false;
    await replyToGuest('guestCancelledAck', m.messageId, { decision: state.status });
    await sends.later(() => sends.managers('managerGuestCancelled', ['manager'], startsAt));
    return true;
  }

  async function remindGuest(round: number) {
    await sends.guest('guestReminder', startsAt, { decision: state.status }, { round });
  }

  /** Confirm on a reminder: recorded once, managers told once; every tap is answered. */
  async function confirmVisit(m: ConfirmVisitInput): Promise<boolean> {
    if (!state.guest || m.phone !== state.guest.phone) {
      log.warn('confirm from someone other than the guest; ignored', { bookingId });
      return false;
    }
    if (notApproved()) {
      await replyToGuest('guestStatus', m.messageId, { decision: state.status });
      return false;
    }
    if (!state.guestConfirmedAt) {
      state.guestConfirmedAt = await database.recordGuestConfirmed({ bookingId, clientId: state.guest.clientId });
      showDetails();
      await sends.later(() => sends.managers('managerGuestConfirmed', ['manager'], startsAt));
    }
    await replyToGuest('guestConfirmedAck', m.messageId, { decision: state.status });
    return true;
  }

  async function replyToGuest(purpose: NotificationPurpose, replyTo: string | undefined, facts: Parameters<typeof sends.guest>[2]) {
    await sends.guest(purpose, Date.now() + REPLY_USEFUL_MS, facts, { replyTo });
  }

  async function askManagersAboutArrival() {
    const asked = await sends.managers('arrivalCheck', ['manager'], visitEndsAt);
    if (asked.sent === 0 && state.status === 'APPROVED') await sends.managers('arrivalCheck', ['owner'], visitEndsAt);
  }

  /** The first answer wins; no-show only once the visit was due. */
  async function markArrival(to: 'SEATED' | 'NO_SHOW', m: ArrivalInput): Promise<boolean> {
    if (notApproved() || (to === 'NO_SHOW' && Date.now() < startsAt)) {
      if (!notApproved()) log.info('no-show before the start; ignored', { bookingId });
      else await tellDecider(m, 'alreadyDecided', state.arrival?.actor);
      return false;
    }
    const moved = await moveTo(to, m.actor);
    if (!moved.applied) return false;
    state.arrival = { status: to, actor: m.actor, at: new Date().toISOString() };
    showDetails();
    await tellDecider(m, 'decisionAck', m.actor);
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
    if (visit) state.guestConfirmedAt = row.guestConfirmedAt;
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
        state.status === 'APPROVED' && d.reminders?.length && `Guest reminders ${d.reminders.join(' · ')}`,
        state.guestConfirmedAt && `Guest confirmed ${state.guestConfirmedAt}`,
        state.status === 'APPROVED' && d.arrivalCheckAt && `Arrival check ${d.arrivalCheckAt}`,
        state.arrival && `**Arrival:** ${state.arrival.status} by ${state.arrival.actor.type}${state.arrival.actor.id === undefined ? '' : ` #${state.arrival.actor.id}`}`,
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }
}

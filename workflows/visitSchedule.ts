import { VISIT_TIMING_DEFAULTS, type VisitTiming } from '../domain/timing';
import type { BookingWorkflowInput } from './definitions';

/** The visit settings the API resolved, or the defaults for an input written before they existed. */
export function visitTiming(t: BookingWorkflowInput['timing']): VisitTiming {
  return {
    reminderOffsetsMs: t.reminderOffsetsMs ?? VISIT_TIMING_DEFAULTS.reminderOffsetsMs,
    guestCancelCutoffMs: t.guestCancelCutoffMs ?? VISIT_TIMING_DEFAULTS.guestCancelCutoffMs,
    rejectReasonWaitMs: t.rejectReasonWaitMs ?? VISIT_TIMING_DEFAULTS.rejectReasonWaitMs,
    arrivalCheckAfterMs: t.arrivalCheckAfterMs ?? VISIT_TIMING_DEFAULTS.arrivalCheckAfterMs,
  };
}

export interface Reminder {
  at: number;
  /** Minutes before the start: tells the reminders apart in their idempotency keys. */
  round: number;
}

/**
 * The guest reminders still ahead, earliest first. A reminder whose time has already passed
 * (a booking approved 3 hours ahead gets no 24-hour reminder, one approved 1 hour ahead no
 * 2-hour one) is not sent late.
 */
export function remindersAhead(startsAt: number, offsetsMs: readonly number[], now: number): Reminder[] {
  return offsetsMs
    .map((offset) => ({ at: startsAt - offset, round: Math.round(offset / 60_000) }))
    .filter((r) => r.at > now)
    .sort((a, b) => a.at - b.at);
}

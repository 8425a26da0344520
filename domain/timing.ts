import type { Config } from '../config';

/** A restaurant's own timing settings, in minutes; null means "the configured default". */
export interface RestaurantTimingSettings {
  decisionReminderMinutes?: number | null;
  escalateMinutes?: number | null;
  decisionTimeoutMinutes?: number | null;
  slotMinutes?: number | null;
  /** Guest reminders, minutes before the start; empty means none. */
  reminderMinutes?: number[] | null;
  guestCancelCutoffMinutes?: number | null;
}

/** The visit's timing: what a booking's workflow needs after the decision. */
export interface VisitTiming {
  /** Guest reminders, ms before the start, earliest first. */
  reminderOffsetsMs: number[];
  /** A guest may not cancel from WhatsApp within this long of the start. */
  guestCancelCutoffMs: number;
  /** After a WhatsApp Reject, the guest's message waits this long for the manager's reason. */
  rejectReasonWaitMs: number;
  /** Managers are asked whether the guest came this long after the start. */
  arrivalCheckAfterMs: number;
}

export interface BookingTiming extends VisitTiming {
  claimTtlMs: number;
  decisionReminderAfterMs: number;
  escalateAfterMs: number;
  decisionTimeoutMs: number;
  expireBeforeStartMs: number;
  slotMs: number;
}

/**
 * The visit timing of a workflow whose input was written before these settings existed:
 * the defaults they shipped with (config's defaults say the same).
 */
export const VISIT_TIMING_DEFAULTS: VisitTiming = {
  reminderOffsetsMs: [24 * 3_600_000, 2 * 3_600_000],
  guestCancelCutoffMs: 2 * 3_600_000,
  rejectReasonWaitMs: 2 * 60_000,
  arrivalCheckAfterMs: 20 * 60_000,
};

const minutes = (m: number | null | undefined, fallbackMs: number) => (m ? m * 60_000 : fallbackMs);

export function resolveTiming(r: RestaurantTimingSettings, config: Config): BookingTiming {
  const reminders = r.reminderMinutes ? r.reminderMinutes.map((m) => m * 60_000) : config.VISIT_REMINDERS;
  return {
    claimTtlMs: config.BOOKING_CLAIM_TTL,
    decisionReminderAfterMs: minutes(r.decisionReminderMinutes, config.DECISION_REMINDER_AFTER),
    escalateAfterMs: minutes(r.escalateMinutes, config.ESCALATE_AFTER),
    decisionTimeoutMs: minutes(r.decisionTimeoutMinutes, config.DECISION_TIMEOUT),
    expireBeforeStartMs: config.EXPIRE_BEFORE_START,
    slotMs: minutes(r.slotMinutes, config.BOOKING_SLOT_LENGTH),
    reminderOffsetsMs: [...new Set(reminders)].sort((a, b) => b - a),
    // 0 is a setting here (guests may cancel until the start), not "unset".
    guestCancelCutoffMs: r.guestCancelCutoffMinutes == null ? config.GUEST_CANCEL_CUTOFF : r.guestCancelCutoffMinutes * 60_000,
    rejectReasonWaitMs: config.REJECT_REASON_WAIT,
    arrivalCheckAfterMs: config.ARRIVAL_CHECK_AFTER,
  };
}

/**
 * An unclaimed DRAFT lapses after the claim TTL, and never later than the point where an
 * undecided booking would expire anyway (shortly before the table is due).
 */
export function claimDeadline(now: Date, startsAt: Date, t: BookingTiming): Date {
  return new Date(Math.min(now.getTime() + t.claimTtlMs, startsAt.getTime() - t.expireBeforeStartMs));
}

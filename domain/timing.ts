import type { Config } from '../config';

/** A restaurant's own escalation settings, in minutes; null means "the configured default". */
export interface RestaurantTimingSettings {
  decisionReminderMinutes?: number | null;
  escalateMinutes?: number | null;
  decisionTimeoutMinutes?: number | null;
  slotMinutes?: number | null;
}

export interface BookingTiming {
  claimTtlMs: number;
  decisionReminderAfterMs: number;
  escalateAfterMs: number;
  decisionTimeoutMs: number;
  expireBeforeStartMs: number;
  slotMs: number;
}

const minutes = (m: number | null | undefined, fallbackMs: number) => (m ? m * 60_000 : fallbackMs);

export function resolveTiming(r: RestaurantTimingSettings, config: Config): BookingTiming {
  return {
    claimTtlMs: config.BOOKING_CLAIM_TTL,
    decisionReminderAfterMs: minutes(r.decisionReminderMinutes, config.DECISION_REMINDER_AFTER),
    escalateAfterMs: minutes(r.escalateMinutes, config.ESCALATE_AFTER),
    decisionTimeoutMs: minutes(r.decisionTimeoutMinutes, config.DECISION_TIMEOUT),
    expireBeforeStartMs: config.EXPIRE_BEFORE_START,
    slotMs: minutes(r.slotMinutes, config.BOOKING_SLOT_LENGTH),
  };
}

/**
 * An unclaimed DRAFT lapses after the claim TTL, and never later than the point where an
 * undecided booking would expire anyway (shortly before the table is due).
 */
export function claimDeadline(now: Date, startsAt: Date, t: BookingTiming): Date {
  return new Date(Math.min(now.getTime() + t.claimTtlMs, startsAt.getTime() - t.expireBeforeStartMs));
}

import type { RejectReasonCode } from './actions';
import type { BookingStatus, Language, MembershipRole } from './booking';

/**
 * The channel port: every message the system sends to a person goes through one
 * `NotificationChannel.send` with one of these purposes. The WhatsApp Cloud API
 * channel implements it; so does the outbox-only channel used when no WhatsApp
 * channel is configured.
 */
export const NOTIFICATION_PURPOSES = [
  'managerRequest', // new PENDING booking, with Approve / Reject / Contact guest buttons
  'managerReminder', // nobody decided within decisionReminderAfter
  'escalation', // to owners after escalateAfter
  'managerExpired', // managers told the booking expired undecided
  'managerCancelled', // managers told an approved/pending booking was cancelled
  'decisionAck', // the manager who decided: "done"
  'alreadyDecided', // a later decider: who decided and how
  'contactGuest', // a manager asked for the guest's chat link
  'guestWaiting', // guest: "the restaurant is confirming"
  'guestApproved',
  'guestRejected',
  'guestExpired',
  'guestCancelled',
  'claimRefused', // someone other than the claimant sent a claimed booking's code
  'claimInvalid', // unknown, malformed or expired code
  'guestHelp', // /start, /help and any other text
  'guestStatus', // /status: every upcoming booking (`bookings`)
  'guestCancelQuestion', // Cancel tapped or /cancel: "Cancel your booking at X on D?" with Yes / No
  'guestCancelChoose', // /cancel with several upcoming bookings: a list to pick one (`bookings`)
  'guestCancelKept', // the guest answered No: the booking stays
  'rejectReasonTypePrompt', // the deciding manager picked "other" reason: "type the reason"
  'notAuthorized', // a non-manager tapped a manager button
  'slowDown', // a sender over the per-minute message limit, once a minute
  'guestReminder', // before the visit, with Confirm / Cancel; a template outside the 24-hour window
  'guestConfirmedAck', // the guest tapped Confirm
  'managerGuestConfirmed', // managers told the guest confirmed
  'guestCancelledAck', // the guest cancelled
  'managerGuestCancelled', // managers told the guest cancelled
  'guestCancelRefused', // too close to the start (with the restaurant's number), or no longer cancellable
  'rejectReasonRequest', // the manager who rejected: a list of reasons
  'arrivalCheck', // managers after the start: Arrived / No-show
  'consoleLink', // a manager or owner sent /console: their sign-in link to the console
  'numberedWhich', // WAHA: a bare number while several requests await the sender: which booking (`bookings`)
] as const;
export type NotificationPurpose = (typeof NOTIFICATION_PURPOSES)[number];

export type RecipientRole = 'guest' | MembershipRole;

export interface Recipient {
  role: RecipientRole;
  phone: string; // E.164
  language: Language;
  name?: string;
  /** users.id for managers and owners, clients.id for guests. */
  id?: number;
}

/** Everything a message about a booking may show, already resolved from the database. */
export interface BookingDetails {
  id: number;
  status: BookingStatus;
  /** phone: the restaurant's number, else its first owner's or manager's, for a guest who must call. */
  restaurant: { id: number; name: string; timezone: string; phone?: string };
  table: { id: number; name: string; seats: number; features: string[] };
  startsAt: string; // ISO-8601
  partySize: number;
  guest?: { name?: string; phone?: string };
  specialRequests?: string;
  items: { name: string; quantity: number; notes?: string }[];
  /** The guest's past at this restaurant, for the managers' request. */
  guestRecord?: { visits: number; noShows: number; cancellations: number };
}

export interface Notification {
  purpose: NotificationPurpose;
  recipient: Recipient;
  booking?: BookingDetails;
  /** Several bookings of one guest, soonest first: /status and the list to pick one to cancel. */
  bookings?: BookingDetails[];
  /**
   * Distinguishes repeated sends of one purpose to one person (e.g. each reminder round).
   * Part of the idempotency key (booking, purpose, recipient, round).
   */
  round?: number;
  /** Purpose-specific facts: the decision and who made it, a rejection reason, ... */
  facts?: {
    decision?: BookingStatus;
    decidedBy?: string;
    reason?: string;
    /** A reason picked from the list: shown in the recipient's language (a typed one is `reason`). */
    reasonCode?: RejectReasonCode;
    /** guestCancelRefused: the restaurant's cutoff, when that is why. */
    cutoffMinutes?: number;
    /** consoleLink: the sign-in link, until when it works (ISO-8601, shown in `timeZone`), the restaurants it opens. */
    console?: { link: string; expiresAt: string; timeZone: string; restaurants: string[] };
  };
  /** Reply to the inbound message that caused this one, when there is one. */
  replyTo?: string;
  /**
   * The WhatsApp account to send through when it is not the booking's restaurant's: a reply
   * goes out through the account its message arrived on (whatsapp_accounts.id; null: the
   * default account from the environment).
   */
  account?: number | null;
  /**
   * Send the approved manager template instead of the interactive message: the interactive
   * one was refused later with 131047 (outside the 24-hour window). Recorded under
   * `idempotencyKey(n) + ':template'`, so it too is sent at most once.
   */
  viaTemplate?: boolean;
}

/**
 * Failure types of the notification activities that no retry can fix: the workflow's retry
 * policy lists them as non-retryable, the activities raise them.
 */
export const PERMANENT_SEND_FAILURE = 'WhatsAppPermanentError';
export const BOOKING_NOT_FOUND = 'BookingNotFound';

export interface SendResult {
  /** sent: the provider accepted it; queued: recorded only (no channel configured). */
  status: 'sent' | 'queued';
  idempotencyKey: string;
  providerMessageId?: string;
  /** True when an earlier attempt already sent it and this call changed nothing. */
  reused: boolean;
}

export interface NotificationChannel {
  send(notification: Notification): Promise<SendResult>;
}

export function idempotencyKey(n: Notification): string {
  // Replies to an inbound message are keyed by it, so each inbound message gets one answer.
  return [n.booking?.id ?? 'none', n.purpose, n.recipient.phone, n.round ?? n.replyTo ?? 0].join(':');
}

/**
 * The one source of truth for a booking's statuses and the moves between them.
 * Workflow, database constraint, API validation and docs all read from here.
 */
export const BOOKING_STATUSES = [
  'DRAFT',
  'PENDING',
  'APPROVED',
  'REJECTED',
  'EXPIRED',
  'CANCELLED',
  'SEATED',
  'COMPLETED',
  'NO_SHOW',
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

const TRANSITIONS: Record<BookingStatus, readonly BookingStatus[]> = {
  DRAFT: ['PENDING', 'EXPIRED'],
  PENDING: ['APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED'],
  APPROVED: ['CANCELLED', 'SEATED', 'NO_SHOW'],
  REJECTED: [],
  EXPIRED: [],
  CANCELLED: [],
  SEATED: ['COMPLETED'],
  COMPLETED: [],
  NO_SHOW: [],
};

export function canTransition(from: BookingStatus, to: BookingStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isFinal(status: BookingStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

/**
 * Statuses that hold a table: a new booking overlapping one of these is refused. A seated
 * guest keeps the table until the end of the slot.
 */
export const TABLE_HOLDING_STATUSES: readonly BookingStatus[] = ['PENDING', 'APPROVED', 'SEATED'];

/** History rows that record something other than a status change (booking_history.event). */
export const BOOKING_EVENTS = ['guest_confirmed'] as const;
export type BookingEvent = (typeof BOOKING_EVENTS)[number];

/** Who caused a transition; stored in booking_history.actor_type. */
export const ACTOR_TYPES = ['guest', 'manager', 'owner', 'admin', 'system'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

export interface Actor {
  type: ActorType;
  /** users.id for managers and owners, clients.id for guests, absent for admin and system. */
  id?: number;
  name?: string;
}

export const MEMBERSHIP_ROLES = ['manager', 'owner'] as const;
export type MembershipRole = (typeof MEMBERSHIP_ROLES)[number];

export const LANGUAGES = ['en', 'ru', 'kk'] as const;
export type Language = (typeof LANGUAGES)[number];

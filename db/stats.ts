import { BOOKING_STATUSES, type BookingStatus } from '../domain/booking';
import type { Db } from './knex';

/**
 * Statistics of one restaurant's bookings created in [from, to) and of the messages about
 * them: GET /admin-api/stats. Every query starts from bookings_restaurant_created_idx and
 * reaches history and messages by booking id (migration 005), so its cost follows the
 * restaurant's bookings in the window, not the size of the tables.
 *
 * Definitions (the README repeats them):
 * - claimed: the booking reached PENDING (the guest sent the claim);
 * - resolved: claimed and no longer PENDING (approved, rejected, expired or cancelled while waiting);
 * - confirmationRate: bookings that reached APPROVED (whatever came after: a later CANCELLED,
 *   SEATED or NO_SHOW still counts) ÷ resolved; null when nothing is resolved. Bookings still
 *   waiting are left out, so the rate does not dip while the managers are deciding;
 * - decision: PENDING → APPROVED or REJECTED; its time runs from the PENDING history row to
 *   the decision's row. p50/p90 are interpolated (percentile_cont); null without decisions;
 * - beforeReminder / afterEscalation: decisions taken sooner than the restaurant's reminder
 *   delay / no sooner than its escalation delay (the settings in force now); expired:
 *   PENDING → EXPIRED. Their shares are of the resolved bookings.
 */
export interface StatsWindow {
  restaurantId: number;
  from: Date;
  to: Date;
  reminderAfterMs: number;
  escalateAfterMs: number;
}

export interface MessageCount {
  direction: 'in' | 'out';
  purpose: string;
  /** Messages by their latest status (a read message is counted as read only, not also as delivered). */
  statuses: Record<string, number>;
  total: number;
  /** Sent as an approved template (outside the 24-hour window) instead of a free-form message. */
  template: number;
}

export interface StatsResponse {
  restaurantId: number;
  from: string;
  to: string;
  bookings: {
    total: number;
    /** Current status of each booking; every status of domain/booking.ts is present. */
    byStatus: Record<BookingStatus, number>;
    claimed: number;
    resolved: number;
    approved: number;
    confirmationRate: number | null;
    /** Present while the status exists in domain/booking.ts. */
    cancellations?: number;
    noShows?: number;
  };
  decisions: {
    count: number;
    secondsToDecision: { p50: number | null; p90: number | null };
    beforeReminder: { count: number; share: number | null };
    afterEscalation: { count: number; share: number | null };
    expired: { count: number; share: number | null };
  };
  messages: {
    byPurpose: MessageCount[];
    /** Failed messages by purpose and Meta's error code (null: refused before reaching Meta). */
    failures: { purpose: string; errorCode: number | null; count: number }[];
  };
}

interface BookingFigures {
  total: number;
  claimed: number;
  resolved: number;
  approved: number;
  decided: number;
  p50: number | null;
  p90: number | null;
  before_reminder: number;
  after_escalation: number;
  expired: number;
}

const share = (count: number, of: number) => (of > 0 ? count / of : null);

// The restaurant's bookings of the window: the one place the index is chosen.
const SCOPED = `select b.id, b.status from bookings as b where b.restaurant_id = :restaurantId and b.created_at >= :from and b.created_at < :to`;

export async function restaurantStats(db: Db, w: StatsWindow): Promise<StatsResponse> {
  const params = { restaurantId: w.restaurantId, from: w.from, to: w.to };
  const [figures, statusRows, messageRows, failureRows] = await Promise.all([
    db.raw<{ rows: BookingFigures[] }>(
      // Each booking's status changes (not its events) are read through their (booking_id,
      // to_status) index: a lateral lookup per booking, never a pass over the whole history.
      `with scoped as (${SCOPED}),
       lives as (
         select s.id, h.*,
                extract(epoch from h.left_at - h.claimed_at)::float8 as seconds
         from scoped as s
         cross join lateral (
           select max(x.created_at) filter (where x.to_status = 'PENDING') as claimed_at,
                  bool_or(x.to_status = 'APPROVED') as approved,
                  max(x.to_status) filter (where x.from_status = 'PENDING') as left_to,
                  max(x.created_at) filter (where x.from_status = 'PENDING') as left_at
           from booking_history as x where x.booking_id = s.id and x.event is null
         ) as h
       )
       select count(*)::int as total,
              count(*) filter (where claimed_at is not null)::int as claimed,
              count(*) filter (where claimed_at is not null and left_to is not null)::int as resolved,
              count(*) filter (where claimed_at is not null and approved)::int as approved,
              count(*) filter (where left_to in ('APPROVED', 'REJECTED'))::int as decided,
              percentile_cont(0.5) within group (order by seconds) filter (where left_to in ('APPROVED', 'REJECTED')) as p50,
              percentile_cont(0.9) within group (order by seconds) filter (where left_to in ('APPROVED', 'REJECTED')) as p90,
              count(*) filter (where left_to in ('APPROVED', 'REJECTED') and seconds * 1000 < :reminderMs)::int as before_reminder,
              count(*) filter (where left_to in ('APPROVED', 'REJECTED') and seconds * 1000 >= :escalateMs)::int as after_escalation,
              count(*) filter (where left_to = 'EXPIRED')::int as expired
       from lives`,
      { ...params, reminderMs: w.reminderAfterMs, escalateMs: w.escalateAfterMs },
    ),
    db.raw<{ rows: { status: BookingStatus; count: number }[] }>(
      `select status, count(*)::int as count from (${SCOPED}) as s group by status`,
      params,
    ),
    db.raw<{ rows: { direction: 'in' | 'out'; purpose: string; status: string; template: boolean; count: number }[] }>(
      `select m.direction, m.purpose, m.status, coalesce(m.payload->>'type' = 'template', false) as template, count(*)::int as count
       from (${SCOPED}) as s join whatsapp_messages as m on m.booking_id = s.id
       group by 1, 2, 3, 4`,
      params,
    ),
    db.raw<{ rows: { purpose: string; errorCode: number | null; count: number }[] }>(
      `select m.purpose, m.error_code as "errorCode", count(*)::int as count
       from (${SCOPED}) as s join whatsapp_messages as m on m.booking_id = s.id
       where m.status = 'failed'
       group by 1, 2 order by 3 desc, 1, 2`,
      params,
    ),
  ]);

  const f = figures.rows[0];
  const byStatus = Object.fromEntries(BOOKING_STATUSES.map((s) => [s, 0])) as Record<BookingStatus, number>;
  for (const row of statusRows.rows) byStatus[row.status] = row.count;
  const counted = (status: string) => ((BOOKING_STATUSES as readonly string[]).includes(status) ? byStatus[status as BookingStatus] : undefined);

  return {
    restaurantId: w.restaurantId,
    from: w.from.toISOString(),
    to: w.to.toISOString(),
    bookings: {
      total: f.total,
      byStatus,
      claimed: f.claimed,
      resolved: f.resolved,
      approved: f.approved,
      confirmationRate: share(f.approved, f.resolved),
      cancellations: counted('CANCELLED'),
      noShows: counted('NO_SHOW'),
    },
    decisions: {
      count: f.decided,
      secondsToDecision: { p50: f.p50, p90: f.p90 },
      beforeReminder: { count: f.before_reminder, share: share(f.before_reminder, f.resolved) },
      afterEscalation: { count: f.after_escalation, share: share(f.after_escalation, f.resolved) },
      expired: { count: f.expired, share: share(f.expired, f.resolved) },
    },
    messages: { byPurpose: groupMessages(messageRows.rows), failures: failureRows.rows },
  };
}

function groupMessages(rows: { direction: 'in' | 'out'; purpose: string; status: string; template: boolean; count: number }[]): MessageCount[] {
  const groups = new Map<string, MessageCount>();
  for (const r of rows) {
    const key = `${r.direction}:${r.purpose}`;
    const g = groups.get(key) ?? { direction: r.direction, purpose: r.purpose, statuses: {}, total: 0, template: 0 };
    g.statuses[r.status] = (g.statuses[r.status] ?? 0) + r.count;
    g.total += r.count;
    if (r.template) g.template += r.count;
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => a.direction.localeCompare(b.direction) || a.purpose.localeCompare(b.purpose));
}

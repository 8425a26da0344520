import type { Db } from './knex';

export interface DecisionBacklog {
  /** Bookings claimed and waiting for a manager's decision (PENDING). */
  pending: number;
  /** Seconds since the oldest of them was claimed; 0 when none waits. */
  oldestSeconds: number;
}

/**
 * The managers' inbox of undecided bookings, read at every scrape of /metrics: the PENDING
 * rows come from their partial index (migration 005), their claim times from each one's
 * history row, so the cost follows the backlog, not the table.
 */
export async function decisionBacklog(db: Db): Promise<DecisionBacklog> {
  const { rows } = await db.raw<{ rows: DecisionBacklog[] }>(
    `select count(*)::int as pending,
            coalesce(extract(epoch from now() - min(h.created_at)), 0)::float8 as "oldestSeconds"
     from bookings as b
     left join booking_history as h on h.booking_id = b.id and h.to_status = 'PENDING' and h.event is null
     where b.status = 'PENDING'`,
  );
  return rows[0];
}

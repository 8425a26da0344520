import type { BookingStatus } from '../../domain/booking';
import type { Db } from '../../db/knex';

/** A booking written straight to the database with its whole history: the statuses it went through, and when. */
export interface SeededBooking {
  id: number;
  restaurantId: number;
  createdAt: Date;
  /** Status reached, ms after createdAt; the first step is DRAFT at 0. */
  path: { status: BookingStatus; afterMs: number }[];
  status: BookingStatus;
}

export interface SeededMessage {
  id: number;
  bookingId: number | null;
  direction: 'in' | 'out';
  purpose: string;
  phone: string;
  status: string;
  template: boolean;
  errorCode: number | null;
}

let slot = 0;

/** Inserts the booking row (in its last status) and one history row per step. Each booking gets a slot of its own. */
export async function insertBookingWithHistory(
  db: Db,
  b: { restaurantId: number; tableId: number; createdAt: Date; path: { status: BookingStatus; afterMs: number }[] },
): Promise<SeededBooking> {
  const status = b.path[b.path.length - 1].status;
  const startsAt = new Date(Date.UTC(2031, 0, 1) + ++slot * 3 * 3_600_000);
  const [{ id }] = await db('bookings')
    .insert({
      restaurant_id: b.restaurantId,
      table_id: b.tableId,
      status,
      starts_at: startsAt,
      ends_at: new Date(startsAt.getTime() + 2 * 3_600_000),
      party_size: 2,
      claim_code: `STATS${process.pid}x${slot}`,
      claim_expires_at: startsAt,
      workflow_id: `stats-${process.pid}-${slot}`,
      created_at: b.createdAt,
      updated_at: b.createdAt,
    })
    .returning('id');
  await db('booking_history').insert(
    b.path.map((step, i) => ({
      booking_id: id,
      from_status: i === 0 ? null : b.path[i - 1].status,
      to_status: step.status,
      actor_type: step.status === 'APPROVED' || step.status === 'REJECTED' ? 'manager' : 'system',
      created_at: new Date(b.createdAt.getTime() + step.afterMs),
    })),
  );
  return { id, restaurantId: b.restaurantId, createdAt: b.createdAt, path: b.path, status };
}

let wamid = 0;

export async function insertMessage(db: Db, m: Omit<SeededMessage, 'id'> & { createdAt?: Date }): Promise<SeededMessage> {
  const payload = m.direction === 'in' ? { kind: m.purpose } : { type: m.template ? 'template' : 'text' };
  const [{ id }] = await db('whatsapp_messages')
    .insert({
      direction: m.direction,
      provider_message_id: `wamid.stats.${process.pid}.${++wamid}`,
      phone: m.phone,
      booking_id: m.bookingId,
      purpose: m.purpose,
      payload: JSON.stringify(payload),
      status: m.status,
      error_code: m.errorCode,
      error_title: m.errorCode === null ? null : `error ${m.errorCode}`,
      processed_at: m.createdAt ?? new Date(),
      created_at: m.createdAt ?? new Date(),
    })
    .returning('id');
  return { ...m, id };
}

/** A small deterministic generator (mulberry32): the same seed, the same rows, so a failure reproduces. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

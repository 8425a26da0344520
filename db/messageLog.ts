import type { Db } from './knex';

/**
 * The message log (GET /admin-api/messages): every WhatsApp message stored, newest first,
 * keyset-paged on id. Each filter has an index that yields its rows in id order (migration
 * 005: booking, phone and status with id; the primary key otherwise), so a page reads about
 * as many rows as it returns.
 */
export interface MessageLogFilter {
  bookingId?: number;
  /** Messages about this restaurant's bookings. */
  restaurantId?: number;
  /** E.164, as stored. */
  phone?: string;
  direction?: 'in' | 'out';
  status?: string;
  purpose?: string;
  /** Only messages about bookings of the restaurants this user belongs to. */
  memberUserId?: number;
  beforeId?: number;
  limit: number;
}

export interface MessageLogRow {
  id: number;
  direction: 'in' | 'out';
  purpose: string;
  phone: string;
  bookingId: number | null;
  status: string;
  /** The WhatsApp message type: text, interactive, template, button, ... */
  type: string | null;
  errorCode: number | null;
  errorTitle: string | null;
  providerMessageId: string | null;
  payload: unknown;
  createdAt: Date;
  updatedAt: Date;
}

export async function listMessageLog(db: Db, f: MessageLogFilter): Promise<MessageLogRow[]> {
  const q = db('whatsapp_messages as m')
    .select(
      'm.id',
      'm.direction',
      'm.purpose',
      'm.phone',
      'm.booking_id as bookingId',
      'm.status',
      db.raw(`coalesce(m.payload->>'type', m.payload->>'kind') as type`),
      'm.error_code as errorCode',
      'm.error_title as errorTitle',
      'm.provider_message_id as providerMessageId',
      'm.payload',
      'm.created_at as createdAt',
      'm.updated_at as updatedAt',
    )
    .orderBy('m.id', 'desc')
    .limit(f.limit);
  if (f.bookingId !== undefined) q.where('m.booking_id', f.bookingId);
  if (f.phone !== undefined) q.where('m.phone', f.phone);
  if (f.direction !== undefined) q.where('m.direction', f.direction);
  if (f.status !== undefined) q.where('m.status', f.status);
  if (f.purpose !== undefined) q.where('m.purpose', f.purpose);
  if (f.beforeId !== undefined) q.where('m.id', '<', f.beforeId);
  if (f.restaurantId !== undefined) {
    q.whereExists((sub) => sub.select(db.raw('1')).from('bookings as b').whereRaw('b.id = m.booking_id').where('b.restaurant_id', f.restaurantId!));
  }
  if (f.memberUserId !== undefined) {
    q.whereExists((sub) =>
      sub
        .select(db.raw('1'))
        .from('bookings as b')
        .join('restaurant_memberships as rm', 'rm.restaurant_id', 'b.restaurant_id')
        .whereRaw('b.id = m.booking_id')
        .where('rm.user_id', f.memberUserId!),
    );
  }
  return q;
}

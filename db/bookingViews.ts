import type { BookingDetails } from '../domain/notifications';
import { getBooking } from './bookings';
import type { Db } from './knex';

/** Read models of one booking, each in one round of queries: what messages show, what the admin sees. */

/** Everything a message about the booking shows, in one read. */
export async function getBookingDetails(db: Db, id: number): Promise<BookingDetails | undefined> {
  // Both at once: a message waits for this read before it can leave.
  const [row, items] = await Promise.all([
    db('bookings as b')
      .join('restaurants as r', 'r.id', 'b.restaurant_id')
      .join('tables as t', 't.id', 'b.table_id')
      .leftJoin('clients as c', 'c.id', 'b.client_id')
      // The guest's other bookings here; the (client_id, created_at) index finds them.
      .joinRaw(
        `left join lateral (
           select count(*) filter (where o.status in ('SEATED', 'COMPLETED')) as visits,
                  count(*) filter (where o.status = 'NO_SHOW') as no_shows,
                  count(*) filter (where o.status = 'CANCELLED' and exists (
                    select from booking_history h
                     where h.booking_id = o.id and h.to_status = 'CANCELLED' and h.event is null and h.actor_type = 'guest')) as cancellations
             from bookings o
            where o.client_id = b.client_id and o.restaurant_id = b.restaurant_id and o.id <> b.id) as g on true`,
      )
      .where('b.id', id)
      .first(
        'b.id',
        'b.status',
        'b.starts_at',
        'b.party_size',
        'b.special_requests',
        'b.guest_name',
        'r.id as restaurant_id',
        'r.name as restaurant_name',
        'r.timezone',
        't.id as table_id',
        't.name as table_name',
        't.seats',
        't.features',
        'c.name as client_name',
        'c.phone as client_phone',
        'g.visits',
        'g.no_shows',
        'g.cancellations',
        db.raw(
          `coalesce(r.phone, (select u.phone from restaurant_memberships m join users u on u.id = m.user_id
                               where m.restaurant_id = r.id order by m.role = 'owner' desc, m.id limit 1)) as restaurant_phone`,
        ),
      ),
    db('booking_items as i')
      .join('menu_items as m', 'm.id', 'i.menu_item_id')
      .where('i.booking_id', id)
      .orderBy('i.id')
      .select('m.name', 'i.quantity', 'i.notes'),
  ]);
  if (!row) return undefined;
  return {
    id: row.id,
    status: row.status,
    restaurant: { id: row.restaurant_id, name: row.restaurant_name, timezone: row.timezone, phone: row.restaurant_phone ?? undefined },
    table: { id: row.table_id, name: row.table_name, seats: row.seats, features: row.features ?? [] },
    startsAt: new Date(row.starts_at).toISOString(),
    partySize: row.party_size,
    guest: { name: row.client_name ?? row.guest_name ?? undefined, phone: row.client_phone ?? undefined },
    specialRequests: row.special_requests ?? undefined,
    items: items.map((i) => ({ name: i.name, quantity: i.quantity, notes: i.notes ?? undefined })),
    guestRecord: row.client_phone ? { visits: row.visits, noShows: row.no_shows, cancellations: row.cancellations } : undefined,
  };
}

/** The admin view of one booking: guest, items, history and messages. */
export async function getBookingRecord(db: Db, id: number) {
  const booking = await getBooking(db, id);
  if (!booking) return undefined;
  const [guest, items, history, messages] = await Promise.all([
    booking.clientId
      ? db('clients').where('id', booking.clientId).first('id', 'phone', 'name', 'language_code as language')
      : undefined,
    db('booking_items as i')
      .join('menu_items as m', 'm.id', 'i.menu_item_id')
      .where('i.booking_id', id)
      .orderBy('i.id')
      .select('i.menu_item_id as menuItemId', 'm.name', 'i.quantity', 'i.notes'),
    db('booking_history')
      .where('booking_id', id)
      .orderBy('id')
      .select('from_status as from', 'to_status as to', 'event', 'actor_type as actorType', 'actor_id as actorId', 'reason', 'created_at as at'),
    db('whatsapp_messages')
      .where('booking_id', id)
      .orderBy('id')
      .select(
        'id',
        'direction',
        'purpose',
        'phone',
        'status',
        'provider_message_id as providerMessageId',
        'error_code as errorCode',
        'error_title as errorTitle',
        'created_at as createdAt',
        'updated_at as updatedAt',
      ),
  ]);
  return { booking, guest: guest ?? null, items, history, messages };
}

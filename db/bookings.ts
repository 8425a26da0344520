import type { Knex } from 'knex';
import type { Actor, BookingStatus } from '../domain/booking';
import { BOOKING_STATUSES, isFinal, TABLE_HOLDING_STATUSES } from '../domain/booking';
import type { BookingDetails } from '../domain/notifications';
import { notifyStatusChange } from './bookingEvents';
import type { Db } from './knex';

export interface BookingRow {
  id: number;
  restaurantId: number;
  tableId: number;
  clientId: number | null;
  status: BookingStatus;
  startsAt: Date;
  endsAt: Date;
  partySize: number;
  guestName: string | null;
  specialRequests: string | null;
  language: string | null;
  claimCode: string;
  claimExpiresAt: Date;
  workflowId: string;
  decidedByType: string | null;
  decidedByUserId: number | null;
  decidedAt: Date | null;
  decisionReason: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const BOOKING_COLUMNS = {
  id: 'b.id',
  restaurantId: 'b.restaurant_id',
  tableId: 'b.table_id',
  clientId: 'b.client_id',
  status: 'b.status',
  startsAt: 'b.starts_at',
  endsAt: 'b.ends_at',
  partySize: 'b.party_size',
  guestName: 'b.guest_name',
  specialRequests: 'b.special_requests',
  language: 'b.language',
  claimCode: 'b.claim_code',
  claimExpiresAt: 'b.claim_expires_at',
  workflowId: 'b.workflow_id',
  decidedByType: 'b.decided_by_type',
  decidedByUserId: 'b.decided_by_user_id',
  decidedAt: 'b.decided_at',
  decisionReason: 'b.decision_reason',
  idempotencyKey: 'b.idempotency_key',
  requestHash: 'b.request_hash',
  createdAt: 'b.created_at',
  updatedAt: 'b.updated_at',
};

const bookings = (db: Db | Knex.Transaction) => db('bookings as b').select(BOOKING_COLUMNS);

export async function getBooking(db: Db | Knex.Transaction, id: number): Promise<BookingRow | undefined> {
  return bookings(db).where('b.id', id).first();
}

export async function findBookingByClaimCode(db: Db, code: string): Promise<BookingRow | undefined> {
  return bookings(db).where('b.claim_code', code).first();
}

export async function findBookingByIdempotencyKey(
  db: Db | Knex.Transaction,
  key: string,
): Promise<BookingRow | undefined> {
  return bookings(db).where('b.idempotency_key', key).first();
}

/** The guest's most recent booking, for `/status` in WhatsApp. */
export async function latestBookingForPhone(db: Db, phone: string): Promise<BookingRow | undefined> {
  return bookings(db)
    .join('clients as c', 'c.id', 'b.client_id')
    .where('c.phone', phone)
    .orderBy('b.created_at', 'desc')
    .first();
}

/**
 * Bookings whose workflow should be running, created before `createdBefore`, by id after
 * `afterId`: every non-final one, except an APPROVED one whose visit is over (its workflow
 * would only end). A DRAFT or PENDING one past its deadlines is included: its workflow expires it.
 */
export async function listOpenBookings(
  db: Db,
  page: { createdBefore: Date; afterId: number; limit: number },
): Promise<BookingRow[]> {
  const open = BOOKING_STATUSES.filter((s) => !isFinal(s) && s !== 'APPROVED');
  return bookings(db)
    .where((q) => q.whereIn('b.status', open).orWhere((approved) => approved.where('b.status', 'APPROVED').where('b.ends_at', '>', db.fn.now())))
    .where('b.created_at', '<', page.createdBefore)
    .where('b.id', '>', page.afterId)
    .orderBy('b.id')
    .limit(page.limit);
}

/** Whether a table-holding booking of this table overlaps [startsAt, endsAt). Served by the GiST exclusion index. */
export async function slotTaken(db: Db | Knex.Transaction, tableId: number, startsAt: Date, endsAt: Date): Promise<boolean> {
  const row = await db('bookings')
    .where('table_id', tableId)
    .whereIn('status', TABLE_HOLDING_STATUSES as BookingStatus[])
    .whereRaw('tstzrange(starts_at, ends_at) && tstzrange(?, ?)', [startsAt, endsAt])
    .first('id');
  return row !== undefined;
}

export interface NewBooking {
  restaurantId: number;
  tableId: number;
  startsAt: Date;
  endsAt: Date;
  partySize: number;
  guestName?: string;
  specialRequests?: string;
  language?: string;
  claimSecret: (id: number) => string;
  claimExpiresAt: Date;
  workflowIdFor: (id: number) => string;
  idempotencyKey?: string;
  requestHash?: string;
  items: { menuItemId: number; quantity: number; notes?: string }[];
}

/** Inserts the DRAFT row, its items and its first history row; the caller owns the transaction. */
export async function insertDraftBooking(trx: Knex.Transaction, b: NewBooking): Promise<BookingRow> {
  const [{ id }] = await trx.raw<{ rows: { id: number }[] }>("select nextval('bookings_id_seq')::int as id").then((r) => r.rows);
  await trx('bookings').insert({
    id,
    restaurant_id: b.restaurantId,
    table_id: b.tableId,
    status: 'DRAFT',
    starts_at: b.startsAt,
    ends_at: b.endsAt,
    party_size: b.partySize,
    guest_name: b.guestName ?? null,
    special_requests: b.specialRequests ?? null,
    language: b.language ?? null,
    claim_code: b.claimSecret(id),
    claim_expires_at: b.claimExpiresAt,
    workflow_id: b.workflowIdFor(id),
    idempotency_key: b.idempotencyKey ?? null,
    request_hash: b.requestHash ?? null,
  });
  if (b.items.length) {
    await trx('booking_items').insert(
      b.items.map((i) => ({ booking_id: id, menu_item_id: i.menuItemId, quantity: i.quantity, notes: i.notes ?? null })),
    );
  }
  await trx('booking_history').insert({ booking_id: id, from_status: null, to_status: 'DRAFT', actor_type: 'guest' });
  return (await getBooking(trx, id))!;
}

export type TransitionResult =
  | { applied: true; status: BookingStatus }
  /** The booking is not in `from` (and not already in `to`): nothing changed. */
  | { applied: false; status: BookingStatus; reason: 'wrong_status' | 'slot_taken' };

/**
 * Moves a booking from one status to another, writing the booking row and its history row
 * in one transaction. Safe to repeat: a retry after a lost reply finds the booking already
 * in `to` and reports it applied without a second history row.
 */
export interface Transition {
  bookingId: number;
  from: BookingStatus;
  to: BookingStatus;
  actor: Actor;
  reason?: string;
  /** The guest, set when the claim makes them known. */
  clientId?: number;
  /** Record the actor and reason as the booking's decision. */
  decision?: boolean;
}

export async function transitionBooking(db: Db, t: Transition): Promise<TransitionResult> {
  try {
    return await db.transaction(async (trx) => {
      const current = await trx('bookings').where('id', t.bookingId).forUpdate().first('status');
      if (!current) throw new Error(`booking ${t.bookingId} does not exist`);
      if (current.status === t.to) return { applied: true, status: t.to };
      if (current.status !== t.from) return { applied: false, status: current.status, reason: 'wrong_status' };
      await trx('bookings')
        .where('id', t.bookingId)
        .update({
          status: t.to,
          updated_at: trx.fn.now(),
          ...(t.clientId !== undefined && { client_id: t.clientId }),
          ...(t.decision && {
            decided_by_type: t.actor.type,
            decided_by_user_id: t.actor.type === 'manager' || t.actor.type === 'owner' ? (t.actor.id ?? null) : null,
            decided_at: trx.fn.now(),
            decision_reason: t.reason ?? null,
          }),
        });
      await trx('booking_history')
        .insert({
          booking_id: t.bookingId,
          from_status: t.from,
          to_status: t.to,
          actor_type: t.actor.type,
          actor_id: t.actor.id ?? null,
          reason: t.reason ?? null,
        })
        .onConflict(['booking_id', 'to_status'])
        .ignore();
      await notifyStatusChange(trx, { bookingId: t.bookingId, from: t.from, to: t.to });
      return { applied: true, status: t.to };
    });
  } catch (err) {
    // The exclusion constraint: another booking took this table's slot first.
    if ((err as { code?: string }).code === '23P01') {
      return { applied: false, status: t.from, reason: 'slot_taken' };
    }
    throw err;
  }
}

/** Creates or updates the guest by phone; a name or language already known is kept unless a new one is given. */
export async function upsertClient(
  db: Db,
  c: { phone: string; name?: string; language?: string },
): Promise<{ id: number; name: string | null; language: string | null }> {
  const [row] = await db('clients')
    .insert({ phone: c.phone, name: c.name ?? null, language_code: c.language ?? null })
    .onConflict('phone')
    .merge({
      name: db.raw('coalesce(excluded.name, clients.name)'),
      language_code: db.raw('coalesce(clients.language_code, excluded.language_code)'),
      updated_at: db.fn.now(),
    })
    .returning(['id', 'name', 'language_code as language']);
  return row;
}

/** The claimed guest of a booking and what decides their language; undefined before the claim. */
export async function getGuestContact(db: Db, bookingId: number) {
  const row = await db('bookings as b')
    .join('clients as c', 'c.id', 'b.client_id')
    .where('b.id', bookingId)
    .first('c.id as clientId', 'c.phone', 'c.name', 'c.language_code as clientLanguage', 'b.language as bookingLanguage');
  return row as
    | { clientId: number; phone: string; name: string | null; clientLanguage: string | null; bookingLanguage: string | null }
    | undefined;
}

/** Everything a message about the booking shows, in one read. */
export async function getBookingDetails(db: Db, id: number): Promise<BookingDetails | undefined> {
  const row = await db('bookings as b')
    .join('restaurants as r', 'r.id', 'b.restaurant_id')
    .join('tables as t', 't.id', 'b.table_id')
    .leftJoin('clients as c', 'c.id', 'b.client_id')
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
    );
  if (!row) return undefined;
  const items = await db('booking_items as i')
    .join('menu_items as m', 'm.id', 'i.menu_item_id')
    .where('i.booking_id', id)
    .orderBy('i.id')
    .select('m.name', 'i.quantity', 'i.notes');
  return {
    id: row.id,
    status: row.status,
    restaurant: { id: row.restaurant_id, name: row.restaurant_name, timezone: row.timezone },
    table: { id: row.table_id, name: row.table_name, seats: row.seats, features: row.features ?? [] },
    startsAt: new Date(row.starts_at).toISOString(),
    partySize: row.party_size,
    guest: { name: row.client_name ?? row.guest_name ?? undefined, phone: row.client_phone ?? undefined },
    specialRequests: row.special_requests ?? undefined,
    items: items.map((i) => ({ name: i.name, quantity: i.quantity, notes: i.notes ?? undefined })),
  };
}

export interface BookingListFilter {
  restaurantId: number;
  status?: BookingStatus;
  from?: Date;
  to?: Date;
  limit: number;
  after?: { startsAt: Date; id: number };
}

/** Keyset page ordered by (starts_at, id); served by bookings_restaurant_starts_idx. */
export async function listBookings(db: Db, f: BookingListFilter): Promise<BookingRow[]> {
  const q = bookings(db).where('b.restaurant_id', f.restaurantId);
  if (f.status) q.where('b.status', f.status);
  if (f.from) q.where('b.starts_at', '>=', f.from);
  if (f.to) q.where('b.starts_at', '<', f.to);
  if (f.after) q.whereRaw('(b.starts_at, b.id) > (?, ?)', [f.after.startsAt, f.after.id]);
  return q.orderBy([{ column: 'b.starts_at' }, { column: 'b.id' }]).limit(f.limit);
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
      .select('from_status as from', 'to_status as to', 'actor_type as actorType', 'actor_id as actorId', 'reason', 'created_at as at'),
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

/** Which of these menu item ids are on this restaurant's menu (served by menu_items_restaurant_idx). */
export async function menuItemIdsOf(db: Db | Knex.Transaction, restaurantId: number, ids: number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db('menu_items').where('restaurant_id', restaurantId).whereIn('id', ids).pluck('id');
  return new Set(rows);
}

import type { Knex } from 'knex';
import type { BookingStatus } from '../domain/booking';
import { BOOKING_STATUSES, isFinal, TABLE_HOLDING_STATUSES } from '../domain/booking';
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

/** Which of these menu item ids are on this restaurant's menu (served by menu_items_restaurant_idx). */
export async function menuItemIdsOf(db: Db | Knex.Transaction, restaurantId: number, ids: number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db('menu_items').where('restaurant_id', restaurantId).whereIn('id', ids).pluck('id');
  return new Set(rows);
}

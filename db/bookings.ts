import type { Knex } from 'knex';
import type { BookingStatus } from '../domain/booking';
import { BOOKING_STATUSES, isFinal, TABLE_HOLDING_STATUSES } from '../domain/booking';
import type { RestaurantTimingSettings } from '../domain/timing';
import { recordTransition } from '../observability/metrics';
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
  guestConfirmedAt: Date | null;
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
  guestConfirmedAt: 'b.guest_confirmed_at',
  idempotencyKey: 'b.idempotency_key',
  requestHash: 'b.request_hash',
  createdAt: 'b.created_at',
  updatedAt: 'b.updated_at',
};

const bookings = (db: Db | Knex.Transaction) => db('bookings as b').select(BOOKING_COLUMNS);
/** BOOKING_COLUMNS as a raw select list over `alias`. */
const selectFrom = (alias: string) =>
  Object.entries(BOOKING_COLUMNS)
    .map(([field, column]) => `${alias}.${column.slice(2)} as "${field}"`)
    .join(', ');

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

/** What a new booking refers to, as POST /api/bookings needs it to check and start one. */
export interface BookingTarget {
  /** accountNumber: the display number of the restaurant's WhatsApp account, when it has its own. */
  restaurant?: { id: number; timezone: string; accountNumber?: string } & RestaurantTimingSettings;
  table?: { id: number; restaurantId: number; name: string; seats: number };
  /** The requested menu item ids that are on this restaurant's menu. */
  knownMenuItemIds: Set<number>;
  /** A booking id reserved for the row, when both the restaurant and the table exist. */
  reservedId?: number;
}

/**
 * The restaurant, the table and the pre-ordered dishes of a booking request, and an id for
 * its row, in one round trip: under load every round trip waits for a pooled connection.
 * An id reserved for a request that is then refused is a gap in the sequence, as a failed
 * insert leaves anyway.
 */
export async function findBookingTarget(db: Db, restaurantId: number, tableId: number, menuItemIds: number[]): Promise<BookingTarget> {
  const { rows } = await db.raw<{ rows: TargetRow[] }>(
    `select r.id as "restaurantId", r.timezone, r.decision_reminder_minutes as "decisionReminderMinutes",
            r.escalate_minutes as "escalateMinutes", r.decision_timeout_minutes as "decisionTimeoutMinutes",
            r.slot_minutes as "slotMinutes", r.reminder_minutes as "reminderMinutes",
            r.guest_cancel_cutoff_minutes as "guestCancelCutoffMinutes",
            (select a.display_number from whatsapp_accounts a where a.id = r.whatsapp_account_id) as "accountNumber",
            t.id as "tableId", t.restaurant_id as "tableRestaurantId", t.name as "tableName", t.seats,
            (select coalesce(array_agg(m.id), '{}') from menu_items m where m.restaurant_id = r.id and m.id = any(:menuItemIds::int[])) as "knownMenuItemIds",
            case when r.id is not null and t.id is not null then nextval('bookings_id_seq')::int end as "reservedId"
       from (select) as request
       left join restaurants r on r.id = :restaurantId
       left join tables t on t.id = :tableId`,
    { restaurantId, tableId, menuItemIds },
  );
  const row = rows[0];
  return {
    restaurant:
      row.restaurantId === null
        ? undefined
        : {
            id: row.restaurantId,
            timezone: row.timezone,
            decisionReminderMinutes: row.decisionReminderMinutes,
            escalateMinutes: row.escalateMinutes,
            decisionTimeoutMinutes: row.decisionTimeoutMinutes,
            slotMinutes: row.slotMinutes,
            reminderMinutes: row.reminderMinutes,
            guestCancelCutoffMinutes: row.guestCancelCutoffMinutes,
            accountNumber: row.accountNumber ?? undefined,
          },
    table: row.tableId === null ? undefined : { id: row.tableId, restaurantId: row.tableRestaurantId, name: row.tableName, seats: row.seats },
    knownMenuItemIds: new Set(row.knownMenuItemIds ?? []),
    reservedId: row.reservedId ?? undefined,
  };
}

interface TargetRow {
  restaurantId: number | null;
  timezone: string;
  accountNumber: string | null;
  decisionReminderMinutes: number | null;
  escalateMinutes: number | null;
  decisionTimeoutMinutes: number | null;
  slotMinutes: number | null;
  reminderMinutes: number[] | null;
  guestCancelCutoffMinutes: number | null;
  tableId: number | null;
  tableRestaurantId: number;
  tableName: string;
  seats: number;
  knownMenuItemIds: number[] | null;
  reservedId: number | null;
}

/** The table is held (PENDING or APPROVED) by another booking around the requested time. */
export class SlotTakenError extends Error {
  constructor(readonly tableId: number) {
    super(`table ${tableId} is already booked around that time`);
    this.name = 'SlotTakenError';
  }
}

export interface NewBooking {
  /** From findBookingTarget; without it the row takes the next id of the sequence. */
  id?: number;
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
  /** Refuse (SlotTakenError) when a table-holding booking overlaps [startsAt, endsAt). */
  requireFreeSlot?: boolean;
}

/**
 * Inserts the DRAFT row, its items and its first history row in one statement, so the three
 * commit together without a transaction of their own (or inside the caller's). With
 * requireFreeSlot the overlap check (served by the GiST exclusion index) is part of the
 * same statement.
 */
export async function insertDraftBooking(db: Db | Knex.Transaction, b: NewBooking): Promise<BookingRow> {
  const id = b.id ?? (await db.raw<{ rows: { id: number }[] }>("select nextval('bookings_id_seq')::int as id")).rows[0].id;
  const { rows } = await db.raw<{ rows: BookingRow[] }>(
    `with booking as (
       insert into bookings (id, restaurant_id, table_id, status, starts_at, ends_at, party_size, guest_name, special_requests,
                             language, claim_code, claim_expires_at, workflow_id, idempotency_key, request_hash)
       select :id::int, :restaurantId::int, :tableId::int, 'DRAFT', :startsAt::timestamptz, :endsAt::timestamptz, :partySize::int,
              :guestName::text, :specialRequests::text, :language::text, :claimCode::text, :claimExpiresAt::timestamptz,
              :workflowId::text, :idempotencyKey::text, :requestHash::text
        where not (:requireFreeSlot::boolean and exists (
                select from bookings
                 where table_id = :tableId and status = any(:holding::text[])
                   and tstzrange(starts_at, ends_at) && tstzrange(:startsAt::timestamptz, :endsAt::timestamptz)))
       returning *
     ), items as (
       insert into booking_items (booking_id, menu_item_id, quantity, notes)
       select booking.id, i."menuItemId", i.quantity, i.notes
         from booking, jsonb_to_recordset(:items::jsonb) as i("menuItemId" int, quantity int, notes text)
     ), history as (
       insert into booking_history (booking_id, from_status, to_status, actor_type)
       select id, null, 'DRAFT', 'guest' from booking
     )
     select ${selectFrom('b')} from booking b`,
    {
      id,
      restaurantId: b.restaurantId,
      tableId: b.tableId,
      startsAt: b.startsAt,
      endsAt: b.endsAt,
      partySize: b.partySize,
      guestName: b.guestName ?? null,
      specialRequests: b.specialRequests ?? null,
      language: b.language ?? null,
      claimCode: b.claimSecret(id),
      claimExpiresAt: b.claimExpiresAt,
      workflowId: b.workflowIdFor(id),
      idempotencyKey: b.idempotencyKey ?? null,
      requestHash: b.requestHash ?? null,
      requireFreeSlot: b.requireFreeSlot ?? false,
      holding: TABLE_HOLDING_STATUSES,
      items: JSON.stringify(b.items),
    },
  );
  if (!rows[0]) throw new SlotTakenError(b.tableId);
  recordTransition(undefined, 'DRAFT');
  return rows[0];
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

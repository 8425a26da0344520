import type { Knex } from 'knex';

/**
 * The visit (#10): reminders, the guest's confirmation and cancel cutoff, the arrival check.
 *
 * Lists copied in, not imported, for the reason 001 gives: a migration that has run must never change.
 * - Statuses SEATED → COMPLETED and NO_SHOW; a seated guest holds the table, so the
 *   exclusion constraint covers SEATED too.
 * - bookings.guest_confirmed_at: the guest tapped Confirm on a reminder.
 * - Restaurant settings: its phone (a guest refused a late cancel is told to call it),
 *   reminder offsets in minutes before the start (null: the configured default; empty: none),
 *   the guest cancel cutoff in minutes (null: the configured default).
 * - booking_history rows for events that are not a status change (`event`, e.g. the guest
 *   confirmed): a status is still entered at most once, an event recorded at most once.
 */
const OLD_STATUSES = ['DRAFT', 'PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED'];
const STATUSES = [...OLD_STATUSES, 'SEATED', 'COMPLETED', 'NO_SHOW'];
const OLD_HOLDING = ['PENDING', 'APPROVED'];
const HOLDING = [...OLD_HOLDING, 'SEATED'];

const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

async function statuses(knex: Knex, all: string[], holding: string[]) {
  await knex.raw('alter table bookings drop constraint bookings_status_check');
  await knex.raw(`alter table bookings add constraint bookings_status_check check (status in (${list(all)}))`);
  await knex.raw('alter table bookings drop constraint bookings_no_overlap');
  await knex.raw(
    `alter table bookings add constraint bookings_no_overlap
       exclude using gist (table_id with =, tstzrange(starts_at, ends_at) with &&)
       where (status in (${list(holding)}))`,
  );
}

export async function up(knex: Knex): Promise<void> {
  await statuses(knex, STATUSES, HOLDING);
  await knex.schema.alterTable('bookings', (t) => {
    t.timestamp('guest_confirmed_at', { useTz: true });
  });
  await knex.schema.alterTable('restaurants', (t) => {
    t.text('phone');
    t.specificType('reminder_minutes', 'integer[]');
    t.integer('guest_cancel_cutoff_minutes');
  });
  await knex.schema.alterTable('booking_history', (t) => {
    t.text('event');
    t.dropUnique(['booking_id', 'to_status']);
  });
  // A retried transition still writes one row, a repeated event one row.
  await knex.raw('create unique index booking_history_status_once on booking_history (booking_id, to_status) where event is null');
  await knex.raw('create unique index booking_history_event_once on booking_history (booking_id, event) where event is not null');
  // Serves "history of booking B" in order, which the dropped unique constraint served before.
  await knex.raw('create index booking_history_booking_idx on booking_history (booking_id, id)');
}

/** Fails while a booking is SEATED, COMPLETED or NO_SHOW: those rows have no older status to become. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index booking_history_booking_idx');
  await knex.raw('drop index booking_history_event_once');
  await knex.raw('drop index booking_history_status_once');
  await knex('booking_history').whereNotNull('event').delete();
  await knex.schema.alterTable('booking_history', (t) => {
    t.dropColumn('event');
    t.unique(['booking_id', 'to_status']);
  });
  await knex.schema.alterTable('restaurants', (t) => {
    t.dropColumns('phone', 'reminder_minutes', 'guest_cancel_cutoff_minutes');
  });
  await knex.schema.alterTable('bookings', (t) => {
    t.dropColumn('guest_confirmed_at');
  });
  await statuses(knex, OLD_STATUSES, OLD_HOLDING);
}

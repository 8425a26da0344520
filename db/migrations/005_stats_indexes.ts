import type { Knex } from 'knex';

/**
 * Indexes for the statistics, the message log and the scrape-time gauges (issue #11), so
 * each of them reads a restaurant's or a booking's rows instead of the whole table:
 *
 * - statistics: a restaurant's bookings created in a window (db/stats.ts), with id and
 *   status carried in the index so the scan need not visit the table;
 * - the decision backlog gauge: the PENDING bookings, few at any moment, however many rows;
 * - message log and statistics: a booking's messages newest first (replaces the plain
 *   booking_id index, whose lookups the wider one serves as well), a phone's messages newest
 *   first, and the messages of one status (e.g. every `failed` one) newest first.
 *
 * Frozen like every shipped migration: a later change is a new migration.
 */
const BOOKINGS_CREATED = 'bookings_restaurant_created_idx';
const BOOKINGS_PENDING = 'bookings_pending_idx';
const MESSAGES_BOOKING = 'whatsapp_messages_booking_idx';
const MESSAGES_BOOKING_ID = 'whatsapp_messages_booking_id_idx';
const MESSAGES_PHONE = 'whatsapp_messages_phone_id_idx';
const MESSAGES_STATUS = 'whatsapp_messages_status_id_idx';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index ${BOOKINGS_CREATED} on bookings (restaurant_id, created_at) include (id, status)`);
  await knex.raw(`create index ${BOOKINGS_PENDING} on bookings (id) where status = 'PENDING'`);
  await knex.raw(`create index ${MESSAGES_BOOKING_ID} on whatsapp_messages (booking_id, id)`);
  await knex.raw(`drop index if exists ${MESSAGES_BOOKING}`);
  await knex.raw(`create index ${MESSAGES_PHONE} on whatsapp_messages (phone, id)`);
  await knex.raw(`create index ${MESSAGES_STATUS} on whatsapp_messages (status, id)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`create index if not exists ${MESSAGES_BOOKING} on whatsapp_messages (booking_id)`);
  for (const index of [BOOKINGS_CREATED, BOOKINGS_PENDING, MESSAGES_BOOKING_ID, MESSAGES_PHONE, MESSAGES_STATUS]) {
    await knex.raw(`drop index if exists ${index}`);
  }
}

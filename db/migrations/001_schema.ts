import type { Knex } from 'knex';

/**
 * The lists as domain/booking.ts had them when this migration was written, copied in: a
 * migration that has run must never change, and importing them would silently change this
 * one with every edit to domain/. A new status or language is a new migration.
 */
const BOOKING_STATUSES = ['DRAFT', 'PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED'];
const ACTOR_TYPES = ['guest', 'manager', 'owner', 'admin', 'system'];
const MEMBERSHIP_ROLES = ['manager', 'owner'];
const LANGUAGES = ['en', 'ru', 'kk'];

const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('restaurants', (t) => {
    t.increments('id');
    t.text('name').notNullable();
    t.text('timezone').notNullable();
    t.text('manager_language_code').notNullable().defaultTo('en');
    // Escalation settings; null means "use the default from config".
    t.integer('decision_reminder_minutes');
    t.integer('escalate_minutes');
    t.integer('decision_timeout_minutes');
    t.integer('slot_minutes');
    t.timestamps(true, true);
    t.check(`manager_language_code in (${list(LANGUAGES)})`);
  });

  await knex.schema.createTable('tables', (t) => {
    t.increments('id');
    t.integer('restaurant_id').notNullable().references('restaurants.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.integer('seats').notNullable();
    t.jsonb('features').notNullable().defaultTo('[]');
    t.timestamps(true, true);
    // Also serves "tables of restaurant X" (leading column).
    t.unique(['restaurant_id', 'name']);
    t.check('seats between 1 and 100');
  });

  await knex.schema.createTable('menu_items', (t) => {
    t.increments('id');
    t.integer('restaurant_id').notNullable().references('restaurants.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.integer('price_minor');
    t.string('currency', 3);
    t.timestamps(true, true);
    // Serves "menu of restaurant X" and the preorder check that items belong to it.
    t.index(['restaurant_id'], 'menu_items_restaurant_idx');
  });

  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    t.text('name').notNullable();
    t.text('phone').notNullable().unique(); // E.164; serves "who is this WhatsApp sender"
    t.text('language');
    t.timestamps(true, true);
  });

  await knex.schema.createTable('restaurant_memberships', (t) => {
    t.increments('id');
    t.integer('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.integer('restaurant_id').notNullable().references('restaurants.id').onDelete('CASCADE');
    t.text('role').notNullable().defaultTo('manager');
    t.timestamps(true, true);
    // Serves "managers/owners of restaurant X" (notifications) and "is user U a member of X" (decisions).
    t.unique(['restaurant_id', 'user_id']);
    t.check(`role in (${list(MEMBERSHIP_ROLES)})`);
  });

  await knex.schema.createTable('clients', (t) => {
    t.increments('id');
    t.text('phone').notNullable().unique(); // E.164; serves the claim upsert by phone
    t.text('name');
    t.text('language_code');
    t.timestamps(true, true);
  });

  await knex.schema.createTable('bookings', (t) => {
    t.increments('id');
    t.integer('restaurant_id').notNullable().references('restaurants.id');
    t.integer('table_id').notNullable().references('tables.id');
    t.integer('client_id').references('clients.id');
    t.text('status').notNullable().defaultTo('DRAFT');
    t.timestamp('starts_at', { useTz: true }).notNullable();
    // starts_at + the restaurant's slot length, fixed at creation so overlap checks need no join.
    t.timestamp('ends_at', { useTz: true }).notNullable();
    t.integer('party_size').notNullable();
    t.text('guest_name');
    t.text('special_requests');
    t.text('language');
    t.text('claim_code').notNullable().unique(); // serves the webhook's claim lookup
    t.timestamp('claim_expires_at', { useTz: true }).notNullable();
    t.text('workflow_id').notNullable().unique();
    t.text('decided_by_type');
    t.integer('decided_by_user_id').references('users.id');
    t.timestamp('decided_at', { useTz: true });
    t.text('decision_reason');
    // Idempotency-Key of POST /api/bookings and the hash of the body it came with.
    t.text('idempotency_key').unique();
    t.text('request_hash');
    t.timestamps(true, true);
    t.check(`status in (${list(BOOKING_STATUSES)})`);
    t.check('party_size >= 1');
    t.check('ends_at > starts_at');
    // Serves the admin listing: WHERE restaurant_id = ? [AND status = ?] ORDER BY starts_at, id (keyset).
    t.index(['restaurant_id', 'starts_at', 'id'], 'bookings_restaurant_starts_idx');
    // Serves /status: the latest booking of a guest.
    t.index(['client_id', 'created_at'], 'bookings_client_created_idx');
  });
  // No two table-holding bookings of one table may overlap, even when two guests claim
  // at the same moment. The GiST index behind it also serves the overlap check of
  // POST /api/bookings (table_id = ? AND tstzrange(starts_at, ends_at) && ?).
  await knex.raw('create extension if not exists btree_gist');
  await knex.raw(
    `alter table bookings add constraint bookings_no_overlap
       exclude using gist (table_id with =, tstzrange(starts_at, ends_at) with &&)
       where (status in ('PENDING', 'APPROVED'))`,
  );

  await knex.schema.createTable('booking_items', (t) => {
    t.increments('id');
    t.integer('booking_id').notNullable().references('bookings.id').onDelete('CASCADE');
    t.integer('menu_item_id').notNullable().references('menu_items.id');
    t.integer('quantity').notNullable();
    t.text('notes');
    t.check('quantity between 1 and 50');
    // Serves "items of booking B".
    t.index(['booking_id'], 'booking_items_booking_idx');
  });

  await knex.schema.createTable('booking_history', (t) => {
    t.increments('id');
    t.integer('booking_id').notNullable().references('bookings.id').onDelete('CASCADE');
    t.text('from_status');
    t.text('to_status').notNullable();
    t.text('actor_type').notNullable();
    t.integer('actor_id');
    t.text('reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check(`actor_type in (${list(ACTOR_TYPES)})`);
    // A booking enters each status at most once (the graph has no cycles), so this makes a
    // retried transition activity write its history row exactly once. It also serves
    // "history of booking B".
    t.unique(['booking_id', 'to_status']);
  });

  await knex.schema.createTable('whatsapp_messages', (t) => {
    t.increments('id');
    t.text('direction').notNullable();
    t.text('provider_message_id').unique(); // serves status webhooks and inbound dedupe
    t.text('phone').notNullable();
    t.integer('booking_id').references('bookings.id').onDelete('SET NULL');
    t.text('purpose').notNullable();
    t.text('idempotency_key').unique(); // serves the "already sent?" check of a retried send
    t.jsonb('payload').notNullable();
    t.text('status').notNullable();
    t.integer('error_code');
    t.text('error_title');
    t.timestamp('processed_at', { useTz: true }); // inbound: when the webhook applied it
    t.timestamps(true, true);
    t.check(`direction in ('in', 'out')`);
    // Serves "messages of booking B".
    t.index(['booking_id'], 'whatsapp_messages_booking_idx');
  });

  await knex.schema.createTable('whatsapp_status_events', (t) => {
    t.increments('id');
    t.text('provider_message_id').notNullable();
    t.text('status').notNullable();
    t.timestamp('occurred_at', { useTz: true });
    t.jsonb('payload').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Meta redelivers: each (message, status) pair is applied once.
    t.unique(['provider_message_id', 'status']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'whatsapp_status_events',
    'whatsapp_messages',
    'booking_history',
    'booking_items',
    'bookings',
    'clients',
    'restaurant_memberships',
    'users',
    'menu_items',
    'tables',
    'restaurants',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}

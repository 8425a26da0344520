import type { Knex } from 'knex';

/**
 * Recording an accepted send in one round trip. markOutboundSent (db/messages.ts) was a
 * transaction of five: BEGIN, the per-wamid advisory lock, the wamid write, the look for
 * statuses that came first, COMMIT; every message we send paid them, on the path from a
 * guest's claim to the managers' phones. This function runs the same three statements in
 * the same order (VOLATILE plpgsql: each takes a fresh snapshot, so the look runs after the
 * lock is granted and sees what the webhook committed under it), in one call.
 *
 * Frozen like every shipped migration: a later change is a new migration with `create or replace`.
 */
// "wa": the advisory-lock namespace of migration 003 and db/messages.ts.
const STATUS_LOCK_NAMESPACE = 0x7761;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function whatsapp_mark_sent(row_id bigint, wamid text) returns void language plpgsql volatile as $fn$
    begin
      perform pg_advisory_xact_lock(${STATUS_LOCK_NAMESPACE}, hashtext(wamid));
      update whatsapp_messages
      set provider_message_id = wamid, status = 'sent', error_code = null, error_title = null, updated_at = now()
      where id = row_id;
      perform whatsapp_apply_statuses(array[wamid]);
    end
    $fn$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function whatsapp_mark_sent(bigint, text)');
}

import type { Knex } from 'knex';

/**
 * Messages told apart by WhatsApp account (#12): whatsapp_messages.account_id is the account
 * a message went out through or arrived on (whatsapp_accounts.id; null: the default account
 * from the environment, which every message before this migration used).
 *
 * - No foreign key: the record of what was sent outlives the account, and an account no
 *   restaurant uses any more can be deleted without rewriting its history.
 * - Inbound rows are written by whatsapp_record_delivery (migration 003) from the webhook's
 *   events, and the webhook writes the account it routed an event to into the event
 *   (`accountId`); a trigger copies it, so that one-statement delivery path stays as it is.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('whatsapp_messages', (t) => {
    t.integer('account_id');
  });
  await knex.raw(`
    create function whatsapp_inbound_account() returns trigger language plpgsql as $fn$
    begin
      new.account_id := (new.payload->>'accountId')::integer;
      return new;
    end
    $fn$`);
  await knex.raw(`
    create trigger whatsapp_inbound_account before insert on whatsapp_messages
    for each row when (new.direction = 'in' and new.account_id is null and new.payload->>'accountId' is not null)
    execute function whatsapp_inbound_account()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger whatsapp_inbound_account on whatsapp_messages');
  await knex.raw('drop function whatsapp_inbound_account()');
  await knex.schema.alterTable('whatsapp_messages', (t) => {
    t.dropColumn('account_id');
  });
}

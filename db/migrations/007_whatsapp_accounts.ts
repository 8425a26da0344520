import type { Knex } from 'knex';

/**
 * Every restaurant its own WhatsApp (#12): the channel accounts, and the one a restaurant
 * sends from (none: the default account from the environment, as before).
 *
 * - A `cloud_api` account is a business number of the WhatsApp Cloud API: its
 *   phone_number_id, access token and app secret. A `waha` account is a session of a WAHA
 *   server (WhatsApp Web): base_url and session, its API key and webhook HMAC key (both
 *   optional, as WAHA's are). Deliveries are routed to an account by phone_number_id or by
 *   session, so each is unique.
 * - Credentials are stored sealed (whatsapp/accounts/credentials.ts), never in clear.
 * - session_status: the last `session.status` WAHA reported (STOPPED, STARTING, SCAN_QR_CODE,
 *   WORKING, FAILED), kept as reported.
 * - An account a restaurant points at cannot be deleted.
 */
const PROVIDERS = ['cloud_api', 'waha'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('whatsapp_accounts', (t) => {
    t.increments('id');
    t.text('name').notNullable().unique();
    t.text('provider').notNullable();
    // E.164, the number guests see and write to.
    t.text('display_number').notNullable().unique();
    t.text('phone_number_id').unique();
    t.text('base_url');
    t.text('session').unique();
    t.text('access_token_sealed');
    t.text('app_secret_sealed');
    t.text('api_key_sealed');
    t.text('webhook_hmac_key_sealed');
    t.text('session_status');
    t.timestamp('session_status_at', { useTz: true });
    t.timestamps(true, true);
    t.check(`provider in (${PROVIDERS.map((p) => `'${p}'`).join(', ')})`);
    t.check(`display_number ~ '^\\+[1-9][0-9]{6,14}$'`);
    t.check(
      `(provider = 'cloud_api' and phone_number_id is not null and access_token_sealed is not null and session is null and base_url is null
         and api_key_sealed is null and webhook_hmac_key_sealed is null)
       or (provider = 'waha' and session is not null and base_url is not null and phone_number_id is null
         and access_token_sealed is null and app_secret_sealed is null)`,
    );
  });
  await knex.schema.alterTable('restaurants', (t) => {
    // NO ACTION (not RESTRICT): a delete from under a restaurant is 23503, which the API answers 409.
    t.integer('whatsapp_account_id').references('whatsapp_accounts.id');
    // "Which restaurants use account A?", asked before deleting it and when routing.
    t.index(['whatsapp_account_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('restaurants', (t) => {
    t.dropColumn('whatsapp_account_id');
  });
  await knex.schema.dropTable('whatsapp_accounts');
}

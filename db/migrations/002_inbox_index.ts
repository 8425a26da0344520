import type { Knex } from 'knex';

/**
 * The webhook inbox (lockNextUnprocessed in db/messages.ts) looks for the next row to act on
 * after every delivery and every few seconds, starting from id 0. Without this index that is
 * a walk over every message ever stored, since sent and processed rows are most of the table.
 * The predicate is the query's own, so the planner can prove the query matches it.
 */
const INDEX = 'whatsapp_messages_unprocessed_idx';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `create index ${INDEX} on whatsapp_messages (id)
       where processed_at is null and (direction = 'in' or (direction = 'out' and status = 'failed'))`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop index if exists ${INDEX}`);
}

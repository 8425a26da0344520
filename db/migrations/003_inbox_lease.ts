import type { Knex } from 'knex';

/**
 * The inbox with leases (whatsapp/inbox.ts, db/messages.ts), and the webhook's one-statement
 * durable write.
 *
 * Inbox columns on whatsapp_messages: a row is claimed by setting `lease_until`/`lease_owner`
 * and counting an attempt, processed outside any transaction, then marked processed; a
 * failure records `last_error` and the earliest next try (`next_attempt_at`), and after the
 * last attempt `dead_at` parks it in the dead letter until an admin retries it.
 *
 * The two functions exist for round trips, not for logic's sake: a webhook delivery is one
 * `select whatsapp_record_delivery(...)`, one statement and one commit. They are VOLATILE
 * plpgsql, so each statement inside takes a fresh snapshot: the status insert and update run
 * after the per-wamid advisory lock is granted and see what the lock holder committed (the
 * same lock markOutboundSent takes: whatsapp_mark_sent, migration 006).
 *
 * Frozen like every shipped migration: a later change is a new migration with `create or replace`.
 */
const DUE_INDEX = 'whatsapp_messages_inbox_due_idx';
const LANE_INDEX = 'whatsapp_messages_inbox_lane_idx';
const DEAD_INDEX = 'whatsapp_messages_inbox_dead_idx';
const SENDER_INDEX = 'whatsapp_messages_inbound_sender_idx';
const OLD_INDEX = 'whatsapp_messages_unprocessed_idx';

// Later statuses win; `failed` is final; unknown ones rank below everything and never apply.
const RANKS: [string, number][] = [
  ['queued', 0],
  ['sending', 0],
  ['retrying', 0],
  ['sent', 1],
  ['delivered', 2],
  ['read', 3],
  ['played', 4],
  ['failed', 5],
];
const rank = (column: string) => `(case ${column} ${RANKS.map(([s, r]) => `when '${s}' then ${r}`).join(' ')} else -1 end)`;

// "wa": the advisory-lock namespace db/messages.ts uses for wamids.
const STATUS_LOCK_NAMESPACE = 0x7761;

// A parameter such as `= any(ids)` makes the planner rate the cached generic plan above a
// one-element custom plan, so by default every call planned each statement again: most of a
// webhook's time in Postgres. Their plans (index lookups by wamid or phone) do not depend on
// the values, so the first plan of a session serves all later calls.
const PLAN_CACHE_MODE = 'force_generic_plan';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('whatsapp_messages', (t) => {
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.timestamp('next_attempt_at', { useTz: true });
    t.timestamp('lease_until', { useTz: true });
    t.uuid('lease_owner');
    t.timestamp('dead_at', { useTz: true });
  });

  // The due rows in id order (the claim's scan), without dead ones.
  await knex.raw(`drop index if exists ${OLD_INDEX}`);
  await knex.raw(
    `create index ${DUE_INDEX} on whatsapp_messages (id)
       where processed_at is null and dead_at is null and (direction = 'in' or (direction = 'out' and status = 'failed'))`,
  );
  // "Has this sender an earlier open row?", asked for every candidate of a claim.
  await knex.raw(
    `create index ${LANE_INDEX} on whatsapp_messages (phone, id)
       where direction = 'in' and processed_at is null and dead_at is null`,
  );
  await knex.raw(`create index ${DEAD_INDEX} on whatsapp_messages (id) where dead_at is not null`);
  // Flood control counts a sender's messages of the current minute.
  await knex.raw(`create index ${SENDER_INDEX} on whatsapp_messages (phone, created_at) where direction = 'in'`);

  await knex.raw(`
    create function whatsapp_apply_statuses(ids text[]) returns integer language plpgsql volatile
    set plan_cache_mode = ${PLAN_CACHE_MODE} as $fn$
    declare applied integer;
    begin
      update whatsapp_messages as m
      set status = best.status,
          error_code = case when best.status = 'failed' and best.code ~ '^[0-9]{1,9}$' then best.code::int else m.error_code end,
          error_title = case when best.status = 'failed' then best.title else m.error_title end,
          -- A failure is new work for the inbox, with a fresh set of attempts.
          processed_at = case when best.status = 'failed' then null else m.processed_at end,
          attempts = case when best.status = 'failed' then 0 else m.attempts end,
          next_attempt_at = case when best.status = 'failed' then null else m.next_attempt_at end,
          dead_at = case when best.status = 'failed' then null else m.dead_at end,
          updated_at = now()
      from (
        select distinct on (provider_message_id) provider_message_id, status,
               payload->'errors'->0->>'code' as code,
               coalesce(payload->'errors'->0->>'title', payload->'errors'->0->>'message') as title
        from whatsapp_status_events
        where provider_message_id = any(ids)
        order by provider_message_id, ${rank('status')} desc
      ) as best
      where m.provider_message_id = best.provider_message_id
        and m.direction = 'out'
        and ${rank('m.status')} < ${rank('best.status')};
      get diagnostics applied = row_count;
      return applied;
    end
    $fn$`);

  // messages: [{id, phone, purpose, payload, foreign}]; statuses: [{id, status, occurredAt, payload, outboundId}].
  // A sender's n-th message of the current minute beyond flood_limit is stored as `skipped`;
  // only the first of those stays open, for the one "please slow down" reply. Counting reads
  // committed rows, so two deliveries racing may let a message or two more through: cheap
  // and close enough for a limit that only exists to keep one phone from crowding out others.
  await knex.raw(`
    create function whatsapp_record_delivery(messages jsonb, statuses jsonb, flood_limit integer) returns jsonb
    language plpgsql volatile set plan_cache_mode = ${PLAN_CACHE_MODE} as $fn$
    declare
      inserted integer := 0;
      skipped integer := 0;
      foreign_count integer := 0;
      status_inserted integer := 0;
      new_ids text[];
      attached_ids text[];
    begin
      if jsonb_array_length(messages) > 0 then
        with input as (
          select e.v->>'id' as provider_message_id, e.v->>'phone' as phone, e.v->>'purpose' as purpose,
                 e.v->'payload' as payload, coalesce((e.v->>'foreign')::boolean, false) as is_foreign, e.ord
          from jsonb_array_elements(messages) with ordinality as e(v, ord)
        ),
        counted as (
          select i.*,
                 -- Staff (managers and owners are users) are never throttled: a busy evening is not a flood.
                 case when i.is_foreign or i.phone = '' or exists (select 1 from users as u where u.phone = i.phone) then 0
                      else row_number() over (partition by i.phone, i.is_foreign order by i.ord)
                           -- Counting stops past the limit: a flood of thousands costs no more than the limit.
                           + (select count(*) from (select from whatsapp_messages w
                              where w.direction = 'in' and w.phone = i.phone
                                and w.created_at >= date_trunc('minute', now()) and w.status <> 'foreign'
                              limit flood_limit + 1) as seen)
                 end as nth
          from input i
        ),
        ins as (
          insert into whatsapp_messages (direction, provider_message_id, phone, purpose, payload, status, processed_at)
          select 'in', provider_message_id, phone, purpose, payload,
                 case when is_foreign then 'foreign' when nth > flood_limit then 'skipped' else 'received' end,
                 case when is_foreign or nth > flood_limit + 1 then now() end
          from counted
          order by ord
          on conflict (provider_message_id) do nothing
          returning status
        )
        select count(*), count(*) filter (where status = 'skipped'), count(*) filter (where status = 'foreign')
        into inserted, skipped, foreign_count from ins;
      end if;

      if jsonb_array_length(statuses) > 0 then
        -- In hash order, so two deliveries never take the same locks in opposite orders.
        perform pg_advisory_xact_lock(${STATUS_LOCK_NAMESPACE}, h)
        from (select distinct hashtext(e->>'id') as h from jsonb_array_elements(statuses) as e order by 1) as locks;
        with ins as (
          insert into whatsapp_status_events (provider_message_id, status, occurred_at, payload)
          select e->>'id', e->>'status', (e->>'occurredAt')::timestamptz, e->'payload'
          from jsonb_array_elements(statuses) as e
          on conflict (provider_message_id, status) do nothing
          returning provider_message_id
        )
        select count(*), array_agg(distinct provider_message_id) into status_inserted, new_ids from ins;
        -- A sender that died after Meta accepted its message but before markOutboundSent left
        -- its row without the wamid. The status names the row (outboundId, from the callback
        -- data the send carried), so the wamid is stored here and a retry finds it instead of
        -- sending again. Only a row still waiting for a wamid is touched, only when the status
        -- is for that row's phone (a user known by a business-scoped id cannot be compared),
        -- and never with a wamid another row already holds (that would refuse the delivery).
        with claimed as (
          select distinct on ((e->>'outboundId')::bigint) (e->>'outboundId')::bigint as row_id, e->>'id' as wamid,
                 e->'payload'->>'recipient_id' as recipient
          from jsonb_array_elements(statuses) as e
          where jsonb_typeof(e->'outboundId') = 'number'
          order by (e->>'outboundId')::bigint
        ),
        attached as (
          update whatsapp_messages as m
          set provider_message_id = c.wamid, status = 'sent', error_code = null, error_title = null, updated_at = now()
          from claimed as c
          where m.id = c.row_id and m.direction = 'out' and m.provider_message_id is null
            and m.status in ('sending', 'retrying')
            and (c.recipient is null or c.recipient !~ '^[0-9]+$' or m.phone = '+' || c.recipient)
            and not exists (select 1 from whatsapp_messages as w where w.provider_message_id = c.wamid)
          returning m.provider_message_id
        )
        select array_agg(provider_message_id) into attached_ids from attached;
        new_ids := array(select distinct unnest(coalesce(new_ids, '{}') || coalesce(attached_ids, '{}')));
      end if;

      return jsonb_build_object(
        'messagesInserted', inserted,
        'messagesSkipped', skipped,
        'messagesForeign', foreign_count,
        'statusesInserted', status_inserted,
        'statusesAttached', coalesce(cardinality(attached_ids), 0),
        'statusesApplied', case when new_ids is null then 0 else whatsapp_apply_statuses(new_ids) end);
    end
    $fn$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop function if exists whatsapp_record_delivery(jsonb, jsonb, integer)');
  await knex.raw('drop function if exists whatsapp_apply_statuses(text[])');
  for (const index of [DUE_INDEX, LANE_INDEX, DEAD_INDEX, SENDER_INDEX]) await knex.raw(`drop index if exists ${index}`);
  await knex.schema.alterTable('whatsapp_messages', (t) => {
    t.dropColumns('attempts', 'last_error', 'next_attempt_at', 'lease_until', 'lease_owner', 'dead_at');
  });
  await knex.raw(
    `create index ${OLD_INDEX} on whatsapp_messages (id)
       where processed_at is null and (direction = 'in' or (direction = 'out' and status = 'failed'))`,
  );
}

import type { Knex } from 'knex';
import type { Db } from './knex';

/**
 * whatsapp_messages and whatsapp_status_events: the record of every message we sent or
 * received, the exactly-once guard for webhooks (unique provider_message_id, unique
 * (message, status) pair) and for sends (unique idempotency_key).
 *
 * Outbound `status`: queued (outbox only) → sending → sent → delivered → read (→ played),
 * or retrying (last attempt failed, may be retried) / failed (error_code, error_title).
 * Inbound rows stay `received`; processed_at is set once the inbox has acted on them.
 *
 * processed_at on an OUTBOUND row that failed asynchronously (a `failed` status webhook) is
 * null until the inbox has handed the failure to the booking's workflow; sends that fail
 * synchronously are handled by their caller and recorded as processed at once.
 */
export interface WhatsAppMessageRow {
  id: number;
  direction: 'in' | 'out';
  providerMessageId: string | null;
  /** E.164; empty for an inbound message from a user known only by a business-scoped id. */
  phone: string;
  bookingId: number | null;
  purpose: string;
  idempotencyKey: string | null;
  payload: unknown;
  status: string;
  errorCode: number | null;
  errorTitle: string | null;
  processedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface OutboundRecord extends WhatsAppMessageRow {
  /** The round part of the idempotency key (reminder rounds), when it is one. */
  round?: number;
}

const COLUMNS = [
  'id',
  'direction',
  'provider_message_id as providerMessageId',
  'phone',
  'booking_id as bookingId',
  'purpose',
  'idempotency_key as idempotencyKey',
  'payload',
  'status',
  'error_code as errorCode',
  'error_title as errorTitle',
  'processed_at as processedAt',
  'created_at as createdAt',
  'updated_at as updatedAt',
];

/**
 * Later statuses win, whatever order Meta delivers them in; `failed` is final. Statuses we
 * do not know rank below everything and are stored but never applied.
 */
const STATUS_RANK: Record<string, number> = {
  queued: 0,
  sending: 0,
  retrying: 0,
  sent: 1,
  delivered: 2,
  read: 3,
  played: 4,
  failed: 5,
};
const rank = (column: string) =>
  `(case ${column} ${Object.entries(STATUS_RANK)
    .map(([status, r]) => `when '${status}' then ${r}`)
    .join(' ')} else -1 end)`;

// The idempotency key is `<booking>:<purpose>:<phone>:<round or reply-to>` (domain/notifications.ts),
// with `:template` appended for the template fallback.
function withRound(row: WhatsAppMessageRow): OutboundRecord {
  const last = row.idempotencyKey?.replace(/:template$/, '').split(':').pop();
  return /^[1-9]\d*$/.test(last ?? '') ? { ...row, round: Number(last) } : row;
}

export async function findOutboundByIdempotencyKey(db: Db, key: string): Promise<OutboundRecord | undefined> {
  const row = await db('whatsapp_messages').where({ idempotency_key: key, direction: 'out' }).first(COLUMNS);
  return row && withRound(row);
}

export interface NewOutbound {
  idempotencyKey: string;
  phone: string;
  bookingId?: number;
  purpose: string;
  payload: unknown;
}

/**
 * Takes the row of an outbound message for one attempt. `claimed: false` returns the row
 * as it stands: already sent (provider id set), already queued (for the outbox), or being
 * sent by another attempt whose lease (`leaseMs`, longer than a request can take) has not
 * run out. A row the outbox queued before WhatsApp was configured is sent for real.
 */
export async function claimOutbound(
  db: Db,
  m: NewOutbound,
  opts: { status: 'sending' | 'queued'; leaseMs: number },
): Promise<{ claimed: boolean; row: OutboundRecord }> {
  const { rows } = await db.raw<{ rows: { id: number }[] }>(
    `insert into whatsapp_messages as m (direction, phone, booking_id, purpose, idempotency_key, payload, status)
     values ('out', ?, ?, ?, ?, ?::jsonb, ?)
     on conflict (idempotency_key) do update
       set status = excluded.status, payload = excluded.payload, error_code = null, error_title = null,
           processed_at = null, updated_at = now()
       where m.provider_message_id is null
         and (m.status in ('retrying', 'failed')
              or (m.status = 'queued' and excluded.status = 'sending')
              or (m.status = 'sending' and m.updated_at < now() - make_interval(secs => ?)))
     returning m.id`,
    [m.phone, m.bookingId ?? null, m.purpose, m.idempotencyKey, JSON.stringify(m.payload), opts.status, opts.leaseMs / 1000],
  );
  const row = await findOutboundByIdempotencyKey(db, m.idempotencyKey);
  if (!row) throw new Error(`outbound message ${m.idempotencyKey} vanished`);
  return { claimed: rows.length > 0, row };
}

// Status webhooks may arrive before the sender has stored the wamid they refer to. Both sides
// take this lock per wamid, so one of them always sees the other's committed write.
const STATUS_LOCK_NAMESPACE = 0x7761; // "wa"
async function lockMessageIds(trx: Knex.Transaction, ids: string[]): Promise<void> {
  if (!ids.length) return;
  // The locks are the hashes, so they are taken in hash order (not wamid order): two wamids
  // sharing a hash would otherwise let two batches take the same locks in opposite orders.
  await trx.raw(
    `select pg_advisory_xact_lock(?, h) from (select distinct hashtext(id) as h from unnest(?::text[]) as id order by 1) as locks`,
    [STATUS_LOCK_NAMESPACE, ids],
  );
}

/**
 * Brings outbound rows up to the best status recorded for them (never backwards). A move to
 * `failed` stores Meta's first error and leaves the row for the inbox to hand to the workflow.
 */
async function applyRecordedStatuses(trx: Knex.Transaction, ids: string[]): Promise<number> {
  if (!ids.length) return 0;
  const { rowCount } = await trx.raw(
    `update whatsapp_messages as m
     set status = best.status,
         error_code = case when best.status = 'failed' and best.code ~ '^[0-9]{1,9}$' then best.code::int else m.error_code end,
         error_title = case when best.status = 'failed' then best.title else m.error_title end,
         processed_at = case when best.status = 'failed' then null else m.processed_at end,
         updated_at = now()
     from (
       select distinct on (provider_message_id) provider_message_id, status,
              payload->'errors'->0->>'code' as code,
              coalesce(payload->'errors'->0->>'title', payload->'errors'->0->>'message') as title
       from whatsapp_status_events
       where provider_message_id = any(?::text[])
       order by provider_message_id, ${rank('status')} desc
     ) as best
     where m.provider_message_id = best.provider_message_id
       and m.direction = 'out'
       and ${rank('m.status')} < ${rank('best.status')}`,
    [ids],
  );
  return rowCount ?? 0;
}

export async function markOutboundSent(db: Db, id: number, providerMessageId: string): Promise<void> {
  await db.transaction(async (trx) => {
    await lockMessageIds(trx, [providerMessageId]);
    await trx('whatsapp_messages')
      .where({ id })
      .update({ provider_message_id: providerMessageId, status: 'sent', error_code: null, error_title: null, updated_at: trx.fn.now() });
    await applyRecordedStatuses(trx, [providerMessageId]);
  });
}

/** `final`: failed for good (the caller has dealt with it); otherwise left for a retry. */
export async function markOutboundError(
  db: Db,
  id: number,
  error: { code?: number; title: string },
  final: boolean,
): Promise<void> {
  await db('whatsapp_messages')
    .where({ id })
    .update({
      status: final ? 'failed' : 'retrying',
      error_code: error.code ?? null,
      error_title: error.title.slice(0, 500),
      processed_at: final ? db.fn.now() : null,
      updated_at: db.fn.now(),
    });
}

export interface InboundRecord {
  providerMessageId: string;
  phone: string;
  purpose: string;
  payload: unknown;
}

export interface StatusRecord {
  providerMessageId: string;
  status: string;
  occurredAt?: Date;
  /** Meta's status object as received; its `errors[0]` is what a failed row stores. */
  payload: unknown;
}

export interface RecordedBatch {
  messages: { inserted: number; duplicates: number };
  statuses: { inserted: number; duplicates: number; applied: number };
}

/**
 * Stores one webhook delivery in one transaction: inbound messages (a redelivered id is a
 * no-op), status events (a redelivered pair is a no-op) and their effect on our outbound
 * rows. Once this commits the delivery may be acknowledged.
 */
export async function recordWebhookBatch(
  db: Db,
  batch: { messages: InboundRecord[]; statuses: StatusRecord[] },
): Promise<RecordedBatch> {
  return db.transaction(async (trx) => {
    const inserted = batch.messages.length
      ? await trx('whatsapp_messages')
          .insert(
            batch.messages.map((m) => ({
              direction: 'in',
              provider_message_id: m.providerMessageId,
              phone: m.phone,
              purpose: m.purpose,
              payload: JSON.stringify(m.payload),
              status: 'received',
            })),
          )
          .onConflict('provider_message_id')
          .ignore()
          .returning('id')
      : [];
    await lockMessageIds(
      trx,
      batch.statuses.map((s) => s.providerMessageId),
    );
    const newStatuses: { provider_message_id: string }[] = batch.statuses.length
      ? await trx('whatsapp_status_events')
          .insert(
            batch.statuses.map((s) => ({
              provider_message_id: s.providerMessageId,
              status: s.status,
              occurred_at: s.occurredAt ?? null,
              payload: JSON.stringify(s.payload),
            })),
          )
          .onConflict(['provider_message_id', 'status'])
          .ignore()
          .returning('provider_message_id')
      : [];
    const applied = await applyRecordedStatuses(
      trx,
      newStatuses.map((s) => s.provider_message_id),
    );
    return {
      messages: { inserted: inserted.length, duplicates: batch.messages.length - inserted.length },
      statuses: { inserted: newStatuses.length, duplicates: batch.statuses.length - newStatuses.length, applied },
    };
  });
}

/**
 * The next row the inbox must act on after `afterId`: an inbound message not yet processed,
 * or an outbound message that failed after it was accepted. Locked for the transaction, and
 * skipped by other processes draining at the same time.
 */
export async function lockNextUnprocessed(trx: Knex.Transaction, afterId: number): Promise<WhatsAppMessageRow | undefined> {
  return trx('whatsapp_messages')
    .where('id', '>', afterId)
    .whereNull('processed_at')
    .where((q) => q.where('direction', 'in').orWhere((o) => o.where('direction', 'out').where('status', 'failed')))
    .orderBy('id')
    .forUpdate()
    .skipLocked()
    .first(COLUMNS);
}

export async function markProcessed(db: Db | Knex.Transaction, id: number, bookingId?: number): Promise<void> {
  await db('whatsapp_messages')
    .where({ id })
    .update({ processed_at: db.fn.now(), updated_at: db.fn.now(), ...(bookingId !== undefined && { booking_id: bookingId }) });
}

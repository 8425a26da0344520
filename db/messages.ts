import type { Db } from './knex';

/**
 * whatsapp_messages and whatsapp_status_events: the record of every message we sent or
 * received, the exactly-once guard for webhooks (unique provider_message_id, unique
 * (message, status) pair) and for sends (unique idempotency_key).
 *
 * Outbound `status`: queued (outbox only) → sending → sent → delivered → read (→ played),
 * or retrying (last attempt failed, may be retried) / failed (error_code, error_title).
 * Inbound `status`: received; skipped (over the sender's flood limit: never acted on); foreign
 * (sent to another phone_number_id: never acted on). processed_at is set once the inbox is
 * done with a row; dead_at once it gave up on it (the dead letter, see the inbox functions).
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
  /** Inbox: tries so far (counted when a row is claimed), the last one's error, the next try's earliest time. */
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date | null;
  deadAt: Date | null;
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
  'attempts',
  'last_error as lastError',
  'next_attempt_at as nextAttemptAt',
  'dead_at as deadAt',
  'created_at as createdAt',
  'updated_at as updatedAt',
];

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

/** Our message WhatsApp knows by this id (a reply quoting it names it so). */
export async function findOutboundByProviderMessageId(db: Db, providerMessageId: string): Promise<WhatsAppMessageRow | undefined> {
  return db('whatsapp_messages').where({ provider_message_id: providerMessageId, direction: 'out' }).first(COLUMNS);
}

export interface NewOutbound {
  idempotencyKey: string;
  phone: string;
  bookingId?: number;
  purpose: string;
  payload: unknown;
  /** The WhatsApp account it goes out through (whatsapp_accounts.id); unset or null: the default account. */
  accountId?: number | null;
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
  // One round trip in the usual cases: the row this call inserted or took over comes back from
  // the insert, a row it left alone (sent already, another sender's live claim) from the select.
  const { rows } = await db.raw<{ rows: (WhatsAppMessageRow & { claimed: boolean })[] }>(
    `with claimed as (
       insert into whatsapp_messages as m (direction, phone, booking_id, purpose, idempotency_key, payload, status, account_id)
       values ('out', ?, ?, ?, ?, ?::jsonb, ?, ?)
       on conflict (idempotency_key) do update
         set status = excluded.status, payload = excluded.payload, account_id = excluded.account_id, error_code = null, error_title = null,
             processed_at = null, updated_at = now()
         where m.provider_message_id is null
           and (m.status in ('retrying', 'failed')
                or (m.status = 'queued' and excluded.status = 'sending')
                or (m.status = 'sending' and m.updated_at < now() - make_interval(secs => ?)))
       returning ${returning('m')}
     )
     select *, true as claimed from claimed
     union all
     select ${returning('w')}, false from whatsapp_messages as w
     where w.idempotency_key = ? and w.direction = 'out' and not exists (select from claimed)`,
    [m.phone, m.bookingId ?? null, m.purpose, m.idempotencyKey, JSON.stringify(m.payload), opts.status, m.accountId ?? null, opts.leaseMs / 1000, m.idempotencyKey],
  );
  if (rows[0]) {
    const { claimed, ...row } = rows[0];
    return { claimed, row: withRound(row) };
  }
  // Left alone because another sender inserted it meanwhile: committed after this statement's
  // snapshot, so only a new one sees it.
  const row = await findOutboundByIdempotencyKey(db, m.idempotencyKey);
  if (!row) throw new Error(`outbound message ${m.idempotencyKey} vanished`);
  return { claimed: false, row };
}

// Status webhooks may arrive before the sender has stored the wamid they refer to. Both sides
// take an advisory lock per wamid (whatsapp_mark_sent, migration 006, and the webhook's
// whatsapp_record_delivery, migration 003), so one of them always sees the other's committed write.
/** The wamid of an accepted send, and any status that arrived for it first (migration 006: one round trip). */
export async function markOutboundSent(db: Db, id: number, providerMessageId: string): Promise<void> {
  await db.raw('select whatsapp_mark_sent(?, ?)', [id, providerMessageId]);
}

/**
 * A booking's messages of one purpose that never reached Meta and are no longer worth
 * sending: failed for good, with why. Returns how many rows that was.
 */
export async function markUndelivered(db: Db, m: { bookingId: number; purpose: string; error: string }): Promise<number> {
  return db('whatsapp_messages')
    .where({ booking_id: m.bookingId, purpose: m.purpose, direction: 'out' })
    .whereNull('provider_message_id')
    .whereIn('status', ['queued', 'sending', 'retrying'])
    .update({
      status: 'failed',
      error_title: `undelivered: ${m.error}`.slice(0, 500),
      processed_at: db.fn.now(),
      updated_at: db.fn.now(),
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
  /** E.164, or empty for a sender known only by a business-scoped id. */
  phone: string;
  purpose: string;
  payload: unknown;
  /** Sent to another phone_number_id than ours: stored, never acted on. */
  foreign: boolean;
}

export interface StatusRecord {
  providerMessageId: string;
  status: string;
  occurredAt?: Date;
  /** Meta's status object as received; its `errors[0]` is what a failed row stores. */
  payload: unknown;
  /** The outbound row the send's callback data names: it gets the wamid if it has none yet. */
  outboundId?: number;
}

export interface RecordedBatch {
  /** `inserted` counts the `skipped` (over the flood limit) and `foreign` ones too. */
  messages: { inserted: number; duplicates: number; skipped: number; foreign: number };
  /** `attached`: outbound rows that got their wamid from a status (their sender died before storing it). */
  statuses: { inserted: number; duplicates: number; attached: number; applied: number };
}

/**
 * Stores one webhook delivery in one statement (whatsapp_record_delivery, migration 003):
 * inbound messages (a redelivered id is a no-op; a sender's messages beyond `floodLimit` in
 * the current minute are stored as skipped), status events (a redelivered pair is a no-op)
 * and their effect on our outbound rows, including the wamid of a row whose sender died before
 * storing it. Once this returns the delivery may be acknowledged.
 */
export async function recordWebhookBatch(
  db: Db,
  batch: { messages: InboundRecord[]; statuses: StatusRecord[]; floodLimit: number },
): Promise<RecordedBatch> {
  const messages = batch.messages.map((m) => ({ id: m.providerMessageId, phone: m.phone, purpose: m.purpose, payload: m.payload, foreign: m.foreign }));
  const statuses = batch.statuses.map((s) => ({
    id: s.providerMessageId,
    status: s.status,
    occurredAt: s.occurredAt ?? null,
    payload: s.payload,
    outboundId: s.outboundId ?? null,
  }));
  const { rows } = await db.raw<{ rows: { r: Record<string, number> }[] }>('select whatsapp_record_delivery(?::jsonb, ?::jsonb, ?) as r', [
    JSON.stringify(messages),
    JSON.stringify(statuses),
    batch.floodLimit,
  ]);
  const r = rows[0].r;
  return {
    messages: {
      inserted: r.messagesInserted,
      duplicates: messages.length - r.messagesInserted,
      skipped: r.messagesSkipped,
      foreign: r.messagesForeign,
    },
    statuses: {
      inserted: r.statusesInserted,
      duplicates: statuses.length - r.statusesInserted,
      attached: r.statusesAttached,
      applied: r.statusesApplied,
    },
  };
}

// The inbox. A row is due while it is neither processed nor dead: every inbound message, and
// an outbound one that failed after Meta accepted it. The predicate is the due index's own
// (migration 003), so the planner can prove the index serves it.
const due = (t: string) =>
  `${t}.processed_at is null and ${t}.dead_at is null and (${t}.direction = 'in' or (${t}.direction = 'out' and ${t}.status = 'failed'))`;

const returning = (table: string) =>
  COLUMNS.map((c) => {
    const [column, alias] = c.split(' as ');
    return alias ? `${table}.${column} as "${alias}"` : `${table}.${column}`;
  }).join(', ');

// The booking a tapped button names (`APPROVE_BOOKING:<id>`, domain/actions.ts), else null.
// Taps on different bookings reach different workflows, so their order means nothing: a
// manager approving ten bookings in a row gets ten signals under way at once, not one by one.
const tappedBooking = (t: string) => `(case when ${t}.payload->>'kind' = 'button' then substring(${t}.payload->>'buttonId' from ':(\\d+)\\s*$') end)`;

/**
 * Leases up to `limit` due rows to `owner` for `leaseMs`, counting an attempt on each, in one
 * short statement: the work happens afterwards, outside any transaction. A sender's rows come
 * one at a time in id order: a row waits while an earlier row of the same sender is open
 * (leased, waiting for its retry, or not yet taken), unless both are taps on different bookings. A dead row is closed, so it stops
 * blocking its sender. Rows whose lease ran out (a crashed process) are taken again.
 */
export async function claimInboxRows(db: Db, opts: { limit: number; leaseMs: number; owner: string }): Promise<WhatsAppMessageRow[]> {
  const { rows } = await db.raw<{ rows: WhatsAppMessageRow[] }>(
    `update whatsapp_messages as m
     set lease_until = now() + make_interval(secs => ?), lease_owner = ?, attempts = m.attempts + 1
     from (
       select c.id from whatsapp_messages as c
       where ${due('c')}
         and (c.lease_until is null or c.lease_until < now())
         and (c.next_attempt_at is null or c.next_attempt_at <= now())
         and (c.direction = 'out' or c.phone = '' or not exists (
           select 1 from whatsapp_messages as e
           where e.direction = 'in' and e.phone = c.phone and e.id < c.id and e.processed_at is null and e.dead_at is null
             and (${tappedBooking('e')} is null or ${tappedBooking('c')} is null or ${tappedBooking('e')} = ${tappedBooking('c')})))
       order by c.id
       limit ?
       for update skip locked
     ) as due
     where m.id = due.id
     returning ${returning('m')}`,
    [opts.leaseMs / 1000, opts.owner, opts.limit],
  );
  return rows.sort((a, b) => a.id - b.id);
}

/**
 * Done with leased rows, in one statement however many. Nothing happens to a row whose lease
 * was lost to another owner meanwhile; a row without a booking keeps the one it had.
 */
export async function markInboxProcessed(db: Db, rows: { id: number; owner: string; bookingId?: number }[]): Promise<void> {
  await db.raw(
    `update whatsapp_messages as m
     set processed_at = now(), lease_until = null, updated_at = now(), booking_id = coalesce(done."bookingId", m.booking_id)
     from jsonb_to_recordset(?::jsonb) as done(id integer, owner uuid, "bookingId" integer)
     where m.id = done.id and m.lease_owner = done.owner`,
    [JSON.stringify(rows)],
  );
}

/**
 * A failed attempt: retried after `retryInMs`, or, when `dead`, parked in the dead letter.
 * `countAttempt: false` gives back the attempt the claim counted (an outage, not the row's fault).
 */
export async function markInboxFailed(
  db: Db,
  id: number,
  owner: string,
  f: { error: string; retryInMs: number; dead: boolean; countAttempt: boolean },
): Promise<void> {
  await db('whatsapp_messages')
    .where({ id, lease_owner: owner })
    .update({
      ...(!f.countAttempt && { attempts: db.raw('attempts - 1') }),
      last_error: f.error.slice(0, 1000),
      next_attempt_at: db.raw('now() + make_interval(secs => ?)', [f.retryInMs / 1000]),
      dead_at: f.dead ? db.fn.now() : null,
      lease_until: null,
      updated_at: db.fn.now(),
    });
}

export const INBOX_STATES = ['pending', 'processed', 'dead', 'skipped', 'foreign'] as const;
export type InboxState = (typeof INBOX_STATES)[number];

// One definition of each state, for the listing and its filter.
// One definition of each state, for the listing, its filter and the retry's answer. They are
// disjoint; a skipped row is pending until its sender's "please slow down" reply is handled.
const STATE_SQL: Record<InboxState, string> = {
  pending: due('m'),
  dead: `m.dead_at is not null`,
  foreign: `m.direction = 'in' and m.status = 'foreign'`,
  skipped: `m.direction = 'in' and m.status = 'skipped' and m.processed_at is not null and m.dead_at is null`,
  processed: `m.processed_at is not null and m.dead_at is null and m.status not in ('skipped', 'foreign') and (m.direction = 'in' or m.status = 'failed')`,
};
const STATE_OF = `(case ${INBOX_STATES.map((s) => `when ${STATE_SQL[s]} then '${s}'`).join(' ')} end)`;
const IN_INBOX = `(m.direction = 'in' or m.status = 'failed')`;

export type InboxRow = WhatsAppMessageRow & { state: InboxState };

/** Inbox rows, newest first, keyset-paged on id. */
export async function listInbox(db: Db, opts: { state?: InboxState; limit: number; beforeId?: number }): Promise<InboxRow[]> {
  const q = db('whatsapp_messages as m')
    .select(db.raw(`${returning('m')}, ${STATE_OF} as state`))
    .whereRaw(opts.state ? STATE_SQL[opts.state] : IN_INBOX)
    .orderBy('m.id', 'desc')
    .limit(opts.limit);
  if (opts.beforeId !== undefined) q.where('m.id', '<', opts.beforeId);
  return q;
}

/**
 * A dead row back to pending with a fresh set of attempts. `undefined`: no such inbox row;
 * `retried: false`: it is not dead (its state says what it is).
 */
export async function retryDeadRow(db: Db, id: number): Promise<{ retried: boolean; state: InboxState } | undefined> {
  const updated = await db('whatsapp_messages')
    .where({ id })
    .whereNotNull('dead_at')
    .update({ dead_at: null, attempts: 0, next_attempt_at: null, lease_until: null, updated_at: db.fn.now() })
    .returning('id');
  if (updated.length) return { retried: true, state: 'pending' };
  const row = await db('whatsapp_messages as m').where('m.id', id).whereRaw(IN_INBOX).first(db.raw(`${STATE_OF} as state`));
  return row && { retried: false, state: row.state };
}

export interface InboxStats {
  pending: number;
  dead: number;
  /** Seconds since the oldest pending row was stored; 0 when none is. */
  lagSeconds: number;
}

export async function inboxStats(db: Db): Promise<InboxStats> {
  const { rows } = await db.raw<{ rows: InboxStats[] }>(
    `select (select count(*) from whatsapp_messages as m where ${due('m')}) as pending,
            (select count(*) from whatsapp_messages as m where ${STATE_SQL.dead}) as dead,
            coalesce((select extract(epoch from now() - min(m.created_at)) from whatsapp_messages as m where ${due('m')}), 0)::float8 as "lagSeconds"`,
  );
  return rows[0];
}

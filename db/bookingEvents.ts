import type { Knex } from 'knex';
import pg from 'pg';
import { BOOKING_STATUSES, type BookingStatus } from '../domain/booking';
import type { Logger } from '../observability/logger';

const CHANNEL = 'booking_status';

export interface StatusChange {
  bookingId: number;
  from: BookingStatus;
  to: BookingStatus;
}

/** Announces a status change; Postgres delivers it to listeners only if and when `trx` commits. */
export async function notifyStatusChange(trx: Knex.Transaction, change: StatusChange): Promise<void> {
  await trx.raw('select pg_notify(?, ?)', [CHANNEL, JSON.stringify(change)]);
}

export interface StatusSubscriber {
  /** A committed change of the booking, in commit order. */
  change(c: StatusChange): void;
  /** The feed lost its connection and has it back: changes may have been missed meanwhile. */
  gap(): void;
}

export interface BookingStatusFeed {
  /** Returns the unsubscribe function. */
  subscribe(bookingId: number, subscriber: StatusSubscriber): () => void;
  /** Every booking's changes (the console's restaurant stream); returns the unsubscribe function. */
  subscribeAll(subscriber: StatusSubscriber): () => void;
  subscriberCount(): number;
  close(): Promise<void>;
}

function parseChange(payload: string | undefined): StatusChange | undefined {
  try {
    const c = JSON.parse(payload ?? '') as Partial<StatusChange>;
    const known = (s: unknown): s is BookingStatus => BOOKING_STATUSES.includes(s as BookingStatus);
    if (Number.isInteger(c.bookingId) && known(c.from) && known(c.to)) return c as StatusChange;
  } catch {
    // not ours
  }
  return undefined;
}

const MAX_RECONNECT_DELAY_MS = 30_000;

/**
 * One LISTEN connection per process, outside the query pool, fanning status changes out to
 * subscribers. When the connection drops it reconnects with backoff and tells every
 * subscriber about the gap, so each can re-read what it follows.
 */
export async function listenForStatusChanges(o: { databaseUrl: string; logger: Logger }): Promise<BookingStatusFeed> {
  const logger = o.logger.child({ component: 'booking-status-feed' });
  const subscribers = new Map<number, Set<StatusSubscriber>>();
  const everyBooking = new Set<StatusSubscriber>();
  let client: pg.Client | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;

  const each = (fn: (s: StatusSubscriber) => void, bookingId?: number) => {
    const sets = [...(bookingId === undefined ? subscribers.values() : [subscribers.get(bookingId) ?? new Set()]), everyBooking];
    for (const set of sets) for (const s of [...set]) fn(s);
  };

  async function connect(): Promise<void> {
    const c = new pg.Client({ connectionString: o.databaseUrl });
    c.on('notification', (n) => {
      const change = n.channel === CHANNEL ? parseChange(n.payload) : undefined;
      if (change) each((s) => s.change(change), change.bookingId);
    });
    let lost: Error | undefined;
    // An 'error' is followed by 'end', which reports it.
    c.on('error', (err) => (lost = err));
    c.on('end', () => {
      if (client !== c || closed) return;
      client = undefined;
      scheduleReconnect(lost);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    // close() may have run while this reconnect was under way.
    if (closed) await c.end();
    else client = c;
  }

  function scheduleReconnect(err: Error | undefined) {
    const delayMs = Math.min(MAX_RECONNECT_DELAY_MS, 250 * 2 ** failures++);
    // The message alone: at Ctrl-C under `npm start` Postgres stops alongside us, and a stack trace would alarm for nothing.
    logger.warn({ error: err?.message, delayMs }, 'listening connection lost; reconnecting');
    retryTimer = setTimeout(() => {
      connect().then(
        () => {
          failures = 0;
          logger.info('listening again');
          each((s) => s.gap());
        },
        (e: Error) => {
          if (!closed) scheduleReconnect(e);
        },
      );
    }, delayMs);
  }

  await connect();

  return {
    subscribe(bookingId, subscriber) {
      const set = subscribers.get(bookingId) ?? new Set();
      subscribers.set(bookingId, set.add(subscriber));
      return () => {
        set.delete(subscriber);
        if (set.size === 0 && subscribers.get(bookingId) === set) subscribers.delete(bookingId);
      };
    },
    subscribeAll(subscriber) {
      everyBooking.add(subscriber);
      return () => void everyBooking.delete(subscriber);
    },
    subscriberCount: () => [...subscribers.values()].reduce((n, set) => n + set.size, everyBooking.size),
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const c = client;
      client = undefined;
      await c?.end();
    },
  };
}

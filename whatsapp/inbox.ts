import { randomUUID } from 'node:crypto';
import { groupCommit } from '../db/groupCommit';
import type { Db } from '../db/knex';
import {
  claimInboxRows,
  markInboxFailed,
  markInboxProcessed,
  recordWebhookBatch,
  type InboundRecord,
  type RecordedBatch,
  type StatusRecord,
  type WhatsAppMessageRow,
} from '../db/messages';
import { phoneFromWaId } from '../domain/phone';
import type { Logger } from '../observability/logger';
import { inboxRows, messageStatuses } from '../observability/metrics';
import type { ProcessOutcome } from './inbound';
import type { WebhookEvent } from './webhookPayload';

export interface RecordOptions {
  /** Whether an event is for one of our accounts; others are stored as foreign. Unset: every event is ours. */
  ours?: (e: WebhookEvent) => boolean;
  floodLimitPerMinute: number;
}

export type RecordedDelivery = RecordedBatch & { foreignStatuses: number };

// One write at a time: what arrives meanwhile waits for the next, so writes are few and full
// (a second one under way measured no faster: the API's CPU, not Postgres, is the limit).
const DELIVERY_WRITES_IN_FLIGHT = 1;

/**
 * The durable inbox: a webhook delivery is stored (and acknowledged) first and acted on
 * afterwards, so Temporal or WhatsApp being down only delays the work, and a redelivery by
 * Meta finds its message already stored and changes nothing. One statement per delivery.
 * Statuses reported for another business number (no account of ours) are counted and
 * dropped: they cannot concern a message we sent.
 */
export async function recordWebhookEvents(db: Db, events: WebhookEvent[], opts: RecordOptions): Promise<RecordedDelivery> {
  const messages: InboundRecord[] = [];
  const statuses: StatusRecord[] = [];
  let foreignStatuses = 0;
  for (const e of events) {
    const foreign = opts.ours !== undefined && !opts.ours(e);
    if (e.type === 'message') {
      messages.push({ providerMessageId: e.messageId, phone: e.from ? phoneFromWaId(e.from) : '', purpose: e.kind, payload: e, foreign });
    } else if (foreign) {
      foreignStatuses++;
    } else {
      statuses.push({
        providerMessageId: e.messageId,
        status: e.status,
        occurredAt: e.timestamp === undefined ? undefined : new Date(e.timestamp * 1000),
        payload: e.raw,
        outboundId: e.outboundId,
      });
    }
  }
  const recorded = await recordWebhookBatch(db, { messages, statuses, floodLimit: opts.floodLimitPerMinute });
  for (const s of statuses) messageStatuses.inc({ status: s.status });
  return { ...recorded, foreignStatuses };
}

/**
 * Stores webhook deliveries as the webhook receives them, with a group commit: deliveries
 * that arrive while a write is under way are stored together by the next one, in the same one
 * statement a lone delivery gets. Under Meta's bursts that is one commit for a moment's
 * deliveries instead of one each, which is most of what a delivery costs Postgres and the pool.
 * `stored` hears about each write once (counters, waking the inbox). A write the database
 * refuses is retried delivery by delivery, so one unreadable delivery fails only itself.
 */
export function createDeliveryRecorder(
  db: Db,
  opts: RecordOptions & { isOutage: (err: unknown) => boolean; stored: (recorded: RecordedDelivery) => void },
): (events: WebhookEvent[]) => Promise<void> {
  return groupCommit<WebhookEvent[]>(
    async (deliveries) => opts.stored(await recordWebhookEvents(db, deliveries.flat(), opts)),
    { maxInFlight: DELIVERY_WRITES_IN_FLIGHT, splitOnFailure: (err) => !opts.isOutage(err) },
  );
}

export interface DrainResult {
  processed: number;
  /** Attempts that threw; their rows are retried after a backoff, or dead after the last attempt. */
  failed: number;
}

export interface Inbox {
  /** Works off what is left from before (a restart, an outage), then looks again every interval. */
  start(): void;
  /** Look soon: new rows were just recorded. Does nothing unless started. */
  kick(): void;
  /** Works until no row is due (rows waiting for their retry are not due); counts what this process did meanwhile. */
  drain(): Promise<DrainResult>;
  /** Stops the timer and waits for the rows under way. */
  stop(): Promise<void>;
}

export interface InboxOptions {
  db: Db;
  logger: Logger;
  process: (row: WhatsAppMessageRow) => Promise<ProcessOutcome>;
  /** Rows acted on at once (INBOX_CONCURRENCY); one sender's rows still go one at a time. */
  concurrency: number;
  /**
   * While this says so, one row at a time instead of `concurrency`: something more urgent
   * needs the process (the webhook's acknowledgements under a burst). Never zero, so the
   * inbox keeps moving however long the burst lasts.
   */
  narrow?: () => boolean;
  /** Attempts before a row goes to the dead letter (INBOX_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Failures that are not the row's fault (an outage): retried with backoff, never counted as an attempt. */
  isOutage?: (err: unknown) => boolean;
  /** How often a started inbox looks for due rows without a kick (default 5 s). */
  intervalMs?: number;
  /** Longer than processing a row can take (Temporal and Graph API calls with their timeouts). */
  leaseMs?: number;
  /** The first retry's delay; each further one doubles, up to MAX_RETRY_DELAY_MS. */
  retryDelayMs?: number;
}

type ProcessedRow = Parameters<typeof markInboxProcessed>[1][number];

const MAX_RETRY_DELAY_MS = 10 * 60_000;
// How long a claim waits for other freed slots and new rows to join it: far below what a guest notices.
const CLAIM_DELAY_MS = 2;
// While narrowed, the pause before the next claim: one row at a time alone still kept the
// process busy between acks (a reply costs a few milliseconds of CPU); this leaves them most of it.
const NARROW_PAUSE_MS = 10;
// Narrowing only ever delays rows: once a row handed out has waited this long, the inbox works
// at full width again until it has caught up, so traffic that stays high (a peak hour, not a
// burst) still gets its claims and taps acted on within seconds.
const NARROW_MAX_WAIT_MS = 2_000;

/**
 * Several processes may run an inbox over one database: rows are leased (claimInboxRows), so
 * each is acted on by one process at a time, and a crashed process's rows come back when
 * their lease runs out. Acting happens outside any transaction and without holding a pool
 * connection, so a slow Temporal or Graph API call holds up only its own row.
 */
export function createInbox(deps: InboxOptions): Inbox {
  const { db, concurrency, maxAttempts } = deps;
  const leaseMs = deps.leaseMs ?? 120_000;
  const retryDelayMs = deps.retryDelayMs ?? 1_000;
  const logger = deps.logger.child({ component: 'whatsapp-inbox' });
  const inFlight = new Set<Promise<void>>();
  const totals: DrainResult = { processed: 0, failed: 0 };
  let timer: NodeJS.Timeout | undefined;
  let kicked: NodeJS.Timeout | undefined;
  let claiming: Promise<void> | undefined;
  let again = false;
  let stopping = false;
  // Since when attempts fail for an outage (until one succeeds): the rows' backoff grows with
  // the outage, as it would with their attempts, which an outage does not spend.
  let outageSince: number | undefined;

  // Rows acted on while an UPDATE marking others is under way wait for the next one, which
  // marks them all: one statement per moment rather than one per row.
  const markProcessed = groupCommit<ProcessedRow>((rows) => markInboxProcessed(db, rows));

  async function handle(row: WhatsAppMessageRow, owner: string): Promise<void> {
    const log = { rowId: row.id, direction: row.direction, messageId: row.providerMessageId, attempt: row.attempts };
    try {
      // Only a process dying on this row (a lease that ran out each time) gets it here.
      if (row.attempts > maxAttempts) throw new Error(`lease ran out ${row.attempts - 1} times: the process handling it stopped`);
      const outcome = await deps.process(row);
      await markProcessed({ id: row.id, owner, bookingId: outcome.bookingId });
      totals.processed++;
      outageSince = undefined;
      inboxRows.inc({ outcome: 'processed' });
    } catch (err) {
      totals.failed++;
      const outage = row.attempts <= maxAttempts && (deps.isOutage?.(err) ?? false);
      const dead = !outage && row.attempts >= maxAttempts;
      inboxRows.inc({ outcome: dead ? 'dead' : 'failed' });
      const backoff = outage ? Math.max(retryDelayMs, Date.now() - (outageSince ??= Date.now())) : retryDelayMs * 2 ** (row.attempts - 1);
      const retryInMs = Math.min(backoff, MAX_RETRY_DELAY_MS);
      if (dead) logger.error({ err, ...log }, 'inbox row failed its last attempt: dead-lettered');
      else logger.warn({ err, ...log, retryInMs, outage }, 'inbox row failed; will retry');
      const failure = { error: err instanceof Error ? err.message : String(err), retryInMs, dead, countAttempt: !outage };
      await markInboxFailed(db, row.id, owner, failure).catch((e: unknown) =>
        // The lease runs out and the row is tried again.
        logger.error({ err: e, rowId: row.id }, 'inbox failure not recorded: database unavailable'),
      );
    }
  }

  let behind = false;
  const width = () => (!behind && deps.narrow?.() ? 1 : concurrency);

  /** Leases due rows while there is room; each finished row makes room and looks again (its sender's next row may be due). */
  function pump(): Promise<void> {
    if (claiming) {
      again = true;
      return claiming;
    }
    claiming = (async () => {
      do {
        again = false;
        for (let room = width(); !stopping && inFlight.size < room; room = width()) {
          const limit = room - inFlight.size;
          const owner = randomUUID();
          let rows: WhatsAppMessageRow[];
          try {
            rows = await claimInboxRows(db, { limit, leaseMs, owner });
          } catch (err) {
            logger.error({ err }, 'inbox paused: database unavailable');
            return;
          }
          // A row's first attempt tells how far behind arrivals the inbox is (a retried row is old by design).
          const firsts = rows.filter((row) => row.attempts === 1);
          if (firsts.length) behind = firsts.some((row) => Date.now() - row.createdAt.getTime() > NARROW_MAX_WAIT_MS);
          for (const row of rows) {
            const work: Promise<void> = handle(row, owner).finally(() => {
              inFlight.delete(work);
              soon();
            });
            inFlight.add(work);
          }
          if (rows.length < limit) break;
        }
      } while (again && !stopping);
    })().finally(() => {
      claiming = undefined;
      if (again && !stopping) void pump();
    });
    return claiming;
  }

  /**
   * A started inbox looks for due rows in a moment: rows finish and deliveries arrive by the
   * hundred per second, and one claim each would be one UPDATE per row; a moment's share one.
   * (drain() claims for itself.)
   */
  function soon(): void {
    if (!timer || kicked) return;
    kicked = setTimeout(
      () => {
        kicked = undefined;
        void pump();
      },
      deps.narrow?.() ? NARROW_PAUSE_MS : CLAIM_DELAY_MS,
    );
  }

  async function drain(): Promise<DrainResult> {
    const before = { ...totals };
    for (;;) {
      await pump();
      if (!inFlight.size && !claiming) break;
      await Promise.race([...inFlight, claiming].filter(Boolean));
    }
    return { processed: totals.processed - before.processed, failed: totals.failed - before.failed };
  }

  return {
    start() {
      if (timer) return;
      stopping = false;
      timer = setInterval(() => void pump(), deps.intervalMs ?? 5_000);
      timer.unref();
      void pump();
    },
    kick: soon,
    drain,
    async stop() {
      stopping = true;
      clearInterval(timer);
      clearTimeout(kicked);
      timer = undefined;
      kicked = undefined;
      await claiming;
      await Promise.all(inFlight);
    },
  };
}

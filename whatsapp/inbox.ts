import type { Db } from '../db/knex';
import { lockNextUnprocessed, markProcessed, recordWebhookBatch, type RecordedBatch, type WhatsAppMessageRow } from '../db/messages';
import { phoneFromWaId } from '../domain/phone';
import type { Logger } from '../observability/logger';
import type { ProcessOutcome } from './inbound';
import type { WebhookEvent } from './webhookPayload';

/**
 * The durable inbox: a webhook delivery is stored (and acknowledged) first and acted on
 * afterwards, so Temporal or WhatsApp being down only delays the work, and a redelivery by
 * Meta finds its message already stored and changes nothing.
 */
export async function recordWebhookEvents(db: Db, events: WebhookEvent[]): Promise<RecordedBatch> {
  const messages = [];
  const statuses = [];
  for (const e of events) {
    if (e.type === 'message') {
      messages.push({ providerMessageId: e.messageId, phone: e.from ? phoneFromWaId(e.from) : '', purpose: e.kind, payload: e });
    } else {
      statuses.push({
        providerMessageId: e.messageId,
        status: e.status,
        occurredAt: e.timestamp === undefined ? undefined : new Date(e.timestamp * 1000),
        payload: e.raw,
      });
    }
  }
  return recordWebhookBatch(db, { messages, statuses });
}

export interface DrainResult {
  processed: number;
  /** Rows whose processing threw; they stay unprocessed for the next pass. */
  failed: number;
}

export interface Inbox {
  /** Drains what is left from before (a restart, an outage), then again every interval. */
  start(): void;
  /** Drain soon: new rows were just recorded. Does nothing unless started. */
  kick(): void;
  /** One pass over every unprocessed row; a call during a pass gets the pass after it. */
  drain(): Promise<DrainResult>;
  /** Stops the timer and waits for the pass under way. */
  stop(): Promise<void>;
}

export function createInbox(deps: {
  db: Db;
  logger: Logger;
  process: (row: WhatsAppMessageRow) => Promise<ProcessOutcome>;
  intervalMs?: number;
}): Inbox {
  const { db } = deps;
  const logger = deps.logger.child({ component: 'whatsapp-inbox' });
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<DrainResult> | undefined;
  let next: Promise<DrainResult> | undefined;

  // Each row is processed inside its own transaction holding the row lock (SKIP LOCKED lets
  // other API processes drain alongside), and marked processed in that same transaction.
  async function pass(): Promise<DrainResult> {
    const result: DrainResult = { processed: 0, failed: 0 };
    let afterId = 0;
    try {
      for (;;) {
        const row = await db.transaction(async (trx) => {
          const locked = await lockNextUnprocessed(trx, afterId);
          if (!locked) return undefined;
          try {
            const outcome = await deps.process(locked);
            await markProcessed(trx, locked.id, outcome.bookingId);
            result.processed++;
          } catch (err) {
            result.failed++;
            logger.error({ err, rowId: locked.id, direction: locked.direction, messageId: locked.providerMessageId }, 'inbox row not processed; will retry');
          }
          return locked;
        });
        if (!row) break;
        afterId = row.id;
      }
    } catch (err) {
      logger.error({ err }, 'inbox drain stopped: database unavailable');
    }
    return result;
  }

  function drain(): Promise<DrainResult> {
    if (!current) {
      current = pass().finally(() => {
        current = undefined;
      });
      return current;
    }
    // The pass under way may already be past the newest rows: exactly one more follows it.
    next ??= current.then(() => {
      next = undefined;
      return drain();
    });
    return next;
  }

  return {
    start() {
      if (timer) return;
      timer = setInterval(() => void drain(), deps.intervalMs ?? 5_000);
      timer.unref();
      void drain();
    },
    kick() {
      if (timer) void drain();
    },
    drain,
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await next;
      await current;
    },
  };
}

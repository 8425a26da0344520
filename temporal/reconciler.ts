import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import { listOpenBookings, type BookingRow } from '../db/bookings';
import type { Db } from '../db/knex';
import type { Logger } from '../observability/logger';
import { bookingWorkflowsRepaired } from '../observability/metrics';
import { bookingHandle, START_DEADLINE_MS, startedForRow, WorkflowIdTakenError } from './bookingClient';
import { ensureWorkflowOf } from './draftBooking';

/**
 * A row younger than this may still be between its commit and its workflow's start in the
 * API that created it; starting it here too would only race that start.
 */
export const RECONCILE_MIN_AGE_MS = 10_000;
const PAGE_SIZE = 200;

export interface ReconcilerDeps {
  db: Db;
  temporal: Client;
  config: Config;
  logger: Logger;
}

export interface Reconciler {
  /** One pass over the open bookings; the ids of those whose workflow it started. */
  runOnce(): Promise<number[]>;
  /** Stops the schedule and waits for a pass in progress. */
  stop(): Promise<void>;
}

/**
 * Issue #8: every open booking row has a running workflow. A row can lack one when its start
 * failed (Temporal unreachable right after the commit), the process died in between, or an
 * operator terminated the workflow. Runs once now and then every RECONCILE_INTERVAL; each
 * process with the API role runs one, and two starting the same workflow is harmless (the
 * second finds the first's, by the row identity in its memo).
 */
export function startReconciler(deps: ReconcilerDeps): Reconciler {
  const logger = deps.logger.child({ component: 'reconciler' });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<unknown> = Promise.resolve();

  async function workflowRunning(row: BookingRow): Promise<boolean> {
    try {
      const description = await deps.temporal.withDeadline(Date.now() + START_DEADLINE_MS, () =>
        bookingHandle(deps.temporal, row.id).describe(),
      );
      if (description.status.name !== 'RUNNING') return false;
      if (!startedForRow(description.memo, row.createdAt)) {
        logger.error({ bookingId: row.id, runId: description.runId }, 'booking workflow id is taken by another booking row');
      }
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** `stopping` ends a scheduled pass early at stop(); a pass someone awaits runs to the end. */
  async function runOnce(stopping = () => false): Promise<number[]> {
    const started: number[] = [];
    const createdBefore = new Date(Date.now() - RECONCILE_MIN_AGE_MS);
    for (let afterId = 0; !stopping(); ) {
      const rows = await listOpenBookings(deps.db, { createdBefore, afterId, limit: PAGE_SIZE });
      for (const row of rows) {
        if (stopping()) break;
        if (await workflowRunning(row)) continue;
        try {
          if ((await ensureWorkflowOf(deps, row)) === 'started') {
            started.push(row.id);
            bookingWorkflowsRepaired.inc({ status: row.status });
            logger.warn({ bookingId: row.id }, 'started the missing workflow of an open booking');
          }
        } catch (err) {
          if (!(err instanceof WorkflowIdTakenError)) throw err;
          logger.error({ bookingId: row.id, runId: err.runId }, 'booking workflow id is taken by another booking row');
        }
      }
      if (rows.length < PAGE_SIZE) break;
      afterId = rows[rows.length - 1].id;
    }
    return started;
  }

  const schedule = () => {
    if (stopped) return;
    pass = runOnce(() => stopped)
      // Postgres or Temporal unreachable: the next pass tries again.
      .catch((err) => logger.warn({ err }, 'reconcile pass failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(schedule, deps.config.RECONCILE_INTERVAL);
      });
  };
  schedule();

  return {
    runOnce: () => runOnce(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}

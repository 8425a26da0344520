/**
 * Issue #8: open booking rows without a running workflow get one, on the real dev server and
 * real Postgres. Nothing polls the task queue here: a started workflow only has to exist,
 * with the input the API would have given it.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import pino from 'pino';
import { loadConfig, type Config } from '../config';
import type { BookingStatus } from '../domain/booking';
import { getBooking } from '../db/bookings';
import { upsertClient } from '../db/clients';
import { bookingWorkflowsRepaired } from '../observability/metrics';
import { bookingHandle } from '../temporal/bookingClient';
import { startReconciler, type Reconciler } from '../temporal/reconciler';
import { statusQuery, workflowIdFor } from '../workflows/definitions';
import { createTestDatabase, type TestDatabase } from './helpers/db';
import { createRestaurantFixture, eventually, insertDraftRow, testPhone, type RestaurantFixture } from './helpers/fixtures';
import { startTestSystem } from './helpers/system';
import { connectDevServer, uniqueId, type DevServerConnection } from './helpers/temporal';

let t: TestDatabase;
let dev: DevServerConnection;
let f: RestaurantFixture;
let config: Config;
const lines: string[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
const reconcilers: Reconciler[] = [];

beforeAll(async () => {
  [t, dev] = await Promise.all([createTestDatabase(), connectDevServer()]);
  f = await createRestaurantFixture(t.db);
  // A day between scheduled passes: the test drives them with runOnce().
  config = loadConfig({ NODE_ENV: 'test', TEMPORAL_TASK_QUEUE: uniqueId('reconciler'), RECONCILE_INTERVAL: '1d' });
});
afterAll(async () => {
  await Promise.all(reconcilers.map((r) => r.stop()));
  const ids: number[] = await t.db('bookings').pluck('id');
  await Promise.all(ids.map((id) => bookingHandle(dev.client, id).terminate('test over').catch(() => undefined)));
  await dev.close();
  await t.drop();
});

let slot = 0;
/** A committed booking row in `status` with no workflow, `ageMs` old: what a failed or lost start leaves. */
async function orphanRow(status: BookingStatus, opts: { ageMs?: number; visitOver?: boolean } = {}): Promise<number> {
  const now = Date.now();
  const startsAt = new Date(opts.visitOver ? now - 5 * 3_600_000 : now + 86_400_000 + ++slot * 3 * 3_600_000);
  const row = await insertDraftRow(t.db, config, f, { now, startsAt });
  await t.db('bookings')
    .where({ id: row.id })
    .update({ status, created_at: t.db.raw('now() - make_interval(secs => ?)', [(opts.ageMs ?? 60_000) / 1000]) });
  return row.id;
}

const running = async (id: number) => {
  try {
    return (await bookingHandle(dev.client, id).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
};

test("open rows without a workflow get one with the API's input; young, final and finished rows are left alone", async () => {
  const draft = await orphanRow('DRAFT');
  const pending = await orphanRow('PENDING');
  const approved = await orphanRow('APPROVED');
  const lapsedDraft = await orphanRow('DRAFT', { visitOver: true });
  const young = await orphanRow('DRAFT', { ageMs: 0 });
  const rejected = await orphanRow('REJECTED');
  const visitOver = await orphanRow('APPROVED', { visitOver: true });
  const repairedBefore = (await bookingWorkflowsRepaired.get()).values.find((v) => v.labels.status === 'DRAFT')?.value ?? 0;

  const reconciler = startReconciler({ db: t.db, temporal: dev.client, config, logger });
  reconcilers.push(reconciler);
  // The pass it runs at start.
  const repairedIds = [draft, pending, approved, lapsedDraft];
  await eventually(async () => Promise.all(repairedIds.map(running)), (all) => all.every(Boolean), 30_000);
  await reconciler.stop();
  for (const id of [young, rejected, visitOver]) expect(await running(id)).toBe(false);

  // The same start as POST /api/bookings: input from the row, row identity in the memo.
  const row = await getBooking(t.db, draft);
  const handle = bookingHandle(dev.client, draft);
  const described = await handle.describe();
  expect(described.memo).toEqual({ bookingRowCreatedAt: row!.createdAt.toISOString() });
  expect(described.taskQueue).toBe(config.TEMPORAL_TASK_QUEUE);
  const history = await handle.fetchHistory();
  const startedEvent = history.events![0].workflowExecutionStartedEventAttributes!;
  const input = await decodeFromPayloadsAtIndex(dev.client.options.loadedDataConverter, 0, startedEvent.input!.payloads);
  expect(input).toEqual({
    bookingId: draft,
    restaurantId: f.restaurantId,
    startsAt: row!.startsAt.toISOString(),
    visitEndsAt: row!.endsAt.toISOString(),
    claimExpiresAt: row!.claimExpiresAt.toISOString(),
    timing: expect.objectContaining({ decisionTimeoutMs: config.DECISION_TIMEOUT }),
  });

  // Each repair is counted by status and logged with the booking id only.
  const repaired = (await bookingWorkflowsRepaired.get()).values.find((v) => v.labels.status === 'DRAFT')?.value ?? 0;
  expect(repaired - repairedBefore).toBe(2);
  const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'started the missing workflow of an open booking');
  expect(logged.map((l) => l.bookingId)).toEqual(expect.arrayContaining(repairedIds));
  expect(Object.keys(logged[0]).filter((k) => !['level', 'time', 'pid', 'hostname', 'msg', 'component'].includes(k))).toEqual(['bookingId']);

  // Another pass finds every workflow running and starts nothing.
  expect(await reconciler.runOnce()).toEqual([]);
});

test("a row whose id is held by another database's running workflow is logged, never bound", async () => {
  const id = await orphanRow('DRAFT');
  const stranger = await dev.client.workflow.start('bookingWorkflow', {
    taskQueue: uniqueId('stranger'),
    workflowId: workflowIdFor(id),
    args: [{ bookingId: id }],
    memo: { bookingRowCreatedAt: '2001-01-01T00:00:00.000Z' },
  });
  const reconciler = startReconciler({ db: t.db, temporal: dev.client, config, logger });
  reconcilers.push(reconciler);
  expect(await reconciler.runOnce()).not.toContain(id);
  expect((await stranger.describe()).runId).toBe(stranger.firstExecutionRunId);
  expect(lines.map((l) => JSON.parse(l)).find((l) => l.bookingId === id && l.level === 50)).toMatchObject({
    msg: 'booking workflow id is taken by another booking row',
  });
});

/**
 * The contract with the workflow: its first step loads the row and resumes from the status
 * there. Runs the whole system (API role with its reconciler, worker) on its own database.
 */
test('a PENDING row without a workflow gets one that resumes as PENDING, with its guest', async () => {
  const sys = await startTestSystem('reconciler', { RECONCILE_INTERVAL: '500ms' });
  try {
    const fx = await createRestaurantFixture(sys.t.db);
    const startsAt = new Date(Date.now() + 2 * 86_400_000);
    const row = await insertDraftRow(sys.t.db, sys.config, fx, { now: Date.now(), startsAt });
    const guest = await upsertClient(sys.t.db, { phone: testPhone(), name: 'Ana' });
    await sys.t.db('bookings')
      .where({ id: row.id })
      .update({ status: 'PENDING', client_id: guest.id, created_at: sys.t.db.raw("now() - interval '1 minute'") });

    const state = await eventually(
      () => bookingHandle(sys.dev.client, row.id).query(statusQuery).catch(() => undefined),
      // A query can be answered before the workflow's first step has loaded the row (DRAFT until then).
      (s) => s !== undefined && s.status !== 'DRAFT',
      45_000,
    );
    expect(state).toMatchObject({ bookingId: row.id, status: 'PENDING', guest: { clientId: guest.id } });
    expect((await getBooking(sys.t.db, row.id))!.status).toBe('PENDING');
  } finally {
    // The worker first, so no activity of a terminated workflow is left completing.
    await sys.system.stop();
    const ids: number[] = await sys.t.db('bookings').pluck('id');
    await Promise.all(ids.map((id) => bookingHandle(sys.dev.client, id).terminate('test over').catch(() => undefined)));
    await sys.stop();
  }
});

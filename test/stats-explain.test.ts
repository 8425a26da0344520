import pg from 'pg';
import { listMessageLog } from '../db/messageLog';
import { inboxStats } from '../db/messages';
import { restaurantStats } from '../db/stats';
import { decisionBacklog } from '../db/backlog';
import { createTestDatabase, type TestDatabase } from './helpers/db';

/**
 * The statistics, the message log and the scrape-time gauges read through indexes: at 100,000
 * bookings (300,000 history rows, 200,000 messages) the plan of every query they run has no
 * sequential scan of bookings, booking_history or whatsapp_messages. The planner is left alone (no
 * enable_seqscan = off): it picks these plans because they are cheaper at this size.
 */

const BOOKINGS = 100_000;
const RESTAURANTS = 20;
const DAY_MS = 24 * 60 * 60 * 1000;

let t: TestDatabase;
let client: pg.Client;
let managerId: number;
let managerRestaurantId: number;
let someBookingId: number;
let somePhone: string;

beforeAll(async () => {
  t = await createTestDatabase();
  await t.db.raw(
    `insert into restaurants (name, timezone) select 'R' || i, 'Asia/Almaty' from generate_series(1, ${RESTAURANTS}) as i`,
  );
  await t.db.raw(`insert into tables (restaurant_id, name, seats) select id, 'T1', 4 from restaurants`);
  const [{ id: userId }] = await t.db('users').insert({ name: 'M', phone: '+77010000001' }).returning('id');
  const [restaurant] = await t.db('restaurants').orderBy('id').limit(1).select('id');
  await t.db('restaurant_memberships').insert({ user_id: userId, restaurant_id: restaurant.id, role: 'manager' });
  managerId = userId;
  managerRestaurantId = restaurant.id;

  // A year of bookings over 20 restaurants, each in its own slot (the no-overlap constraint).
  // Statuses cycle through approved, rejected, expired, cancelled and draft; one in a thousand waits for a decision.
  await t.db.raw(
    `insert into bookings (restaurant_id, table_id, status, starts_at, ends_at, party_size, claim_code, claim_expires_at,
                           workflow_id, created_at, updated_at)
     select t.restaurant_id, t.id,
            case when i % 1000 = 0 then 'PENDING' else (array['APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'DRAFT'])[1 + i % 5] end,
            timestamptz '2031-01-01' + make_interval(hours => i * 3), timestamptz '2031-01-01' + make_interval(hours => i * 3 + 2),
            2, 'EXPLAIN' || i, timestamptz '2031-01-01', 'explain-' || i,
            now() - make_interval(secs => (i * 7919 % (365 * 86400))), now()
     from generate_series(1, ${BOOKINGS}) as i
     join tables as t on t.restaurant_id = (select min(id) from restaurants) + i % ${RESTAURANTS}`,
  );
  await t.db.raw(
    `insert into booking_history (booking_id, from_status, to_status, actor_type, created_at)
     select id, null, 'DRAFT', 'guest', created_at from bookings
     union all
     select id, 'DRAFT', 'PENDING', 'guest', created_at + interval '1 minute' from bookings where status <> 'DRAFT'
     union all
     select id, 'PENDING', status, 'manager', created_at + make_interval(secs => 60 + id % 2400)
     from bookings where status not in ('DRAFT', 'PENDING')`,
  );
  await t.db.raw(
    `insert into whatsapp_messages (direction, provider_message_id, phone, booking_id, purpose, payload, status, error_code, processed_at, created_at)
     select 'out', 'wamid.x' || b.id || '.' || k, '+7701' || lpad((b.id % 5000)::text, 7, '0'), b.id,
            (array['managerRequest', 'guestWaiting', 'guestApproved', 'managerReminder'])[1 + (b.id + k) % 4],
            '{"type": "text"}', (array['sent', 'delivered', 'read', 'failed'])[1 + (b.id::bigint * 3 + k) % 4],
            case when (b.id::bigint * 3 + k) % 4 = 3 then 131026 end, now(), b.created_at
     from bookings as b cross join generate_series(1, 2) as k`,
  );
  await t.db.raw('vacuum analyze bookings, booking_history, whatsapp_messages');
  ({ bookingId: someBookingId, phone: somePhone } = await t.db('whatsapp_messages').orderBy('id').offset(5000).first('booking_id as bookingId', 'phone'));

  client = new pg.Client({ connectionString: t.url });
  await client.connect();
}, 120_000);
afterAll(async () => {
  await client?.end();
  await t.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function* nodes(plan: PlanNode): Generator<PlanNode> {
  yield plan;
  for (const child of plan.Plans ?? []) yield* nodes(child);
}

/** Runs `work`, then EXPLAINs every statement it sent, with the same bindings. */
async function plansOf(work: () => Promise<unknown>): Promise<{ sql: string; plan: PlanNode }[]> {
  const queries: { sql: string; bindings: unknown[] }[] = [];
  const capture = (q: { sql: string; bindings: unknown[] }) => queries.push(q);
  t.db.on('query', capture);
  try {
    await work();
  } finally {
    t.db.off('query', capture);
  }
  expect(queries.length).toBeGreaterThan(0);
  const plans = [];
  for (const q of queries) {
    const { rows } = await client.query(`explain (format json) ${q.sql}`, q.bindings as unknown[]);
    plans.push({ sql: q.sql, plan: rows[0]['QUERY PLAN'][0].Plan as PlanNode });
  }
  return plans;
}

function expectNoSeqScan(plans: { sql: string; plan: PlanNode }[]) {
  for (const { sql, plan } of plans) {
    const scans = [...nodes(plan)].filter((n) => n['Node Type'] === 'Seq Scan' && ['bookings', 'booking_history', 'whatsapp_messages'].includes(n['Relation Name'] ?? ''));
    expect({ sql, seqScans: scans.map((n) => n['Relation Name']) }).toEqual({ sql, seqScans: [] });
  }
}

test(`the statistics of a restaurant's month read indexes only, at ${BOOKINGS.toLocaleString('en')} bookings`, async () => {
  const [{ id: restaurantId }] = await t.db('restaurants').orderBy('id').offset(3).limit(1).select('id');
  const to = new Date();
  const window = { restaurantId, from: new Date(to.getTime() - 30 * DAY_MS), to, reminderAfterMs: 600_000, escalateAfterMs: 1_200_000 };
  let stats: Awaited<ReturnType<typeof restaurantStats>> | undefined;
  const plans = await plansOf(async () => (stats = await restaurantStats(t.db, window)));
  expect(stats!.bookings.total).toBeGreaterThan(300); // a real month of a real restaurant, not an empty window
  expectNoSeqScan(plans);
  const used = plans.flatMap(({ plan }) => [...nodes(plan)].map((n) => n['Index Name']));
  expect(used).toContain('bookings_restaurant_created_idx');
  expect(used).toContain('whatsapp_messages_booking_id_idx');
}, 60_000);

test.each([
  ['no filter', {}],
  ['a booking', () => ({ bookingId: someBookingId })],
  ['a phone', () => ({ phone: somePhone })],
  ['failed ones', { status: 'failed' }],
  ['a purpose and a direction', { purpose: 'managerReminder', direction: 'out' as const }],
  ['a restaurant', () => ({ restaurantId: managerRestaurantId })],
  ['a manager', () => ({ memberUserId: managerId })],
  ['a manager, second page', () => ({ memberUserId: managerId, beforeId: 150_000 })],
])('the message log filtered by %s reads indexes only', async (_name, filter) => {
  const f = typeof filter === 'function' ? filter() : filter;
  let rows: unknown[] = [];
  const plans = await plansOf(async () => (rows = await listMessageLog(t.db, { ...f, limit: 51 })));
  expect(rows.length).toBeGreaterThan(0);
  expectNoSeqScan(plans);
});

test('the gauges read at each scrape use partial indexes: the PENDING bookings, the waiting and dead inbox rows', async () => {
  let backlog: Awaited<ReturnType<typeof decisionBacklog>> | undefined;
  let inbox: Awaited<ReturnType<typeof inboxStats>> | undefined;
  const plans = await plansOf(async () => ([backlog, inbox] = await Promise.all([decisionBacklog(t.db), inboxStats(t.db)])));
  expect(inbox).toEqual({ pending: 0, dead: 0, lagSeconds: 0 });
  expect(backlog!.pending).toBe(BOOKINGS / 1000);
  expect(backlog!.oldestSeconds).toBeGreaterThan(300 * 86400);
  expectNoSeqScan(plans);
  expect(plans.flatMap(({ plan }) => [...nodes(plan)].map((n) => n['Index Name']))).toContain('bookings_pending_idx');
});

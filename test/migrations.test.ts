import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { claimInboxRows } from '../db/messages';
import { createDb, migrateLatest, migrateRollbackAll } from '../db/knex';
import { createTestDatabase, type TestDatabase } from './helpers/db';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());

const MIGRATIONS = ['001_schema', '002_inbox_index', '003_inbox_lease', '004_visit', '005_stats_indexes', '006_outbound_sent', '007_whatsapp_accounts', '008_message_accounts'];

const tables = async () =>
  (await t.db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name'))
    .filter((n: string) => !n.startsWith('knex_'))
    .sort();

test('migrations go down to nothing and up again', async () => {
  expect(await tables()).toEqual([
    'booking_history',
    'booking_items',
    'bookings',
    'clients',
    'menu_items',
    'restaurant_memberships',
    'restaurants',
    'tables',
    'users',
    'whatsapp_accounts',
    'whatsapp_messages',
    'whatsapp_status_events',
  ]);
  await migrateRollbackAll(t.db);
  expect(await tables()).toEqual([]);
  expect(await migrateLatest(t.db)).toEqual(MIGRATIONS);
  expect(await tables()).toHaveLength(12);
});

test('003 adds the inbox columns and functions, and takes them away again', async () => {
  const columns = async () => (await t.db('information_schema.columns').where({ table_name: 'whatsapp_messages' }).pluck('column_name')).sort();
  const functions = async () =>
    (await t.db('pg_proc').whereIn('proname', ['whatsapp_record_delivery', 'whatsapp_apply_statuses']).pluck('proname')).sort();
  const inboxColumns = ['attempts', 'dead_at', 'last_error', 'lease_owner', 'lease_until', 'next_attempt_at'];
  expect(await columns()).toEqual(expect.arrayContaining(inboxColumns));
  expect(await functions()).toEqual(['whatsapp_apply_statuses', 'whatsapp_record_delivery']);

  await t.db.migrate.down({ name: '003_inbox_lease' });
  expect(await columns()).not.toEqual(expect.arrayContaining(['attempts']));
  expect((await columns()).filter((c: string) => inboxColumns.includes(c))).toEqual([]);
  expect(await functions()).toEqual([]);
  expect(await migrateLatest(t.db)).toEqual(['003_inbox_lease']);
  expect(await columns()).toEqual(expect.arrayContaining(inboxColumns));
});

test('two table-holding bookings of one table cannot overlap', async () => {
  const [r] = await t.db('restaurants').insert({ name: 'R', timezone: 'UTC' }).returning('id');
  const [tb] = await t.db('tables').insert({ restaurant_id: r.id, name: 'T1', seats: 4 }).returning('id');
  const row = (code: string, status: string, start: string, end: string) => ({
    restaurant_id: r.id,
    table_id: tb.id,
    status,
    starts_at: start,
    ends_at: end,
    party_size: 2,
    claim_code: code,
    claim_expires_at: start,
    workflow_id: `wf-${code}`,
  });
  await t.db('bookings').insert(row('a', 'APPROVED', '2030-01-01T18:00Z', '2030-01-01T20:00Z'));
  // DRAFTs do not hold the table, so they may overlap freely ...
  await t.db('bookings').insert(row('b', 'DRAFT', '2030-01-01T19:00Z', '2030-01-01T21:00Z'));
  // ... but becoming PENDING on a held slot is refused by the database itself.
  await expect(t.db('bookings').where({ claim_code: 'b' }).update({ status: 'PENDING' })).rejects.toMatchObject({
    code: '23P01',
  });
  // Back-to-back slots do not overlap.
  await t.db('bookings').insert(row('c', 'PENDING', '2030-01-01T20:00Z', '2030-01-01T22:00Z'));
  // A seated guest keeps the table (004); a finished or missed visit does not.
  await t.db('bookings').where({ claim_code: 'a' }).update({ status: 'SEATED' });
  await expect(t.db('bookings').where({ claim_code: 'b' }).update({ status: 'PENDING' })).rejects.toMatchObject({ code: '23P01' });
  await t.db('bookings').where({ claim_code: 'a' }).update({ status: 'NO_SHOW' });
  await t.db('bookings').where({ claim_code: 'b' }).update({ status: 'CANCELLED' });
});

test('004: a status is entered once, an event recorded once, and an event row beside a status row of the same name', async () => {
  const [r] = await t.db('restaurants').insert({ name: 'R4', timezone: 'UTC', reminder_minutes: [1440], phone: '+77010000000' }).returning('*');
  expect(r).toMatchObject({ reminder_minutes: [1440], guest_cancel_cutoff_minutes: null });
  const [tb] = await t.db('tables').insert({ restaurant_id: r.id, name: 'T1', seats: 4 }).returning('id');
  const [b] = await t
    .db('bookings')
    .insert({ restaurant_id: r.id, table_id: tb.id, status: 'APPROVED', starts_at: '2031-01-01T18:00Z', ends_at: '2031-01-01T20:00Z', party_size: 2, claim_code: 'h4', claim_expires_at: '2031-01-01T18:00Z', workflow_id: 'wf-h4' })
    .returning('id');
  const history = (to: string, event?: string) => ({ booking_id: b.id, from_status: 'PENDING', to_status: to, actor_type: 'system', event: event ?? null });
  await t.db('booking_history').insert(history('APPROVED'));
  await expect(t.db('booking_history').insert(history('APPROVED'))).rejects.toMatchObject({ code: '23505' });
  await t.db('booking_history').insert(history('APPROVED', 'guest_confirmed'));
  await expect(t.db('booking_history').insert(history('APPROVED', 'guest_confirmed'))).rejects.toMatchObject({ code: '23505' });
  await expect(t.db('bookings').where({ id: b.id }).update({ status: 'LOST' })).rejects.toMatchObject({ code: '23514' });
});

test("the inbox's claim scans its partial indexes, not the table", async () => {
  // A regular's long history: the lane check must not walk every processed message of a sender.
  await t.db.raw(
    `insert into whatsapp_messages (direction, provider_message_id, phone, purpose, payload, status, processed_at)
     select 'in', 'wamid.M' || i, '+7701' || (i % 50), 'text', '{}', 'received', case when i % 100 <> 0 then now() end
     from generate_series(1, 5000) as i`,
  );
  await t.db.raw('analyze whatsapp_messages');
  let query: { sql: string; bindings: unknown[] } | undefined;
  const capture = (q: NonNullable<typeof query>) => q.sql.includes('whatsapp_messages') && (query = q);
  t.db.on('query', capture);
  await claimInboxRows(t.db, { limit: 4, leaseMs: 1000, owner: randomUUID() }).finally(() => t.db.off('query', capture));

  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  try {
    await client.query('set enable_seqscan = off'); // a tiny table is scanned whatever the indexes
    const { rows } = await client.query(`explain ${query!.sql}`, query!.bindings);
    const plan = rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/whatsapp_messages_inbox_due_idx/);
    expect(plan).toMatch(/whatsapp_messages_inbox_lane_idx/);
  } finally {
    await client.end();
  }
});

test('an API and a worker migrating an empty database at once both start', async () => {
  // Two processes' own pools, on a database nothing has migrated yet: the race is on creating knex_migrations.
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  const name = `test_race_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await admin.query(`create database ${name}`);
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  const [api, worker] = [createDb(url.toString()), createDb(url.toString())];
  try {
    const applied = await Promise.all([migrateLatest(api), migrateLatest(worker)]);
    expect(applied.flat().sort()).toEqual(MIGRATIONS);
    expect(await migrateLatest(api)).toEqual([]);
  } finally {
    await Promise.all([api.destroy(), worker.destroy()]);
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});

test("007: an account has its provider's fields and sealed credentials only; a restaurant's account cannot be deleted from under it", async () => {
  const cloud = { name: 'C', provider: 'cloud_api', display_number: '+77010000001', phone_number_id: '1', access_token_sealed: 'v1:k:x' };
  const waha = { name: 'W', provider: 'waha', display_number: '+77010000002', base_url: 'http://waha:3000', session: 's1' };
  const [c] = await t.db('whatsapp_accounts').insert(cloud).returning('id');
  await t.db('whatsapp_accounts').insert(waha);
  for (const bad of [
    { ...cloud, name: 'C2', display_number: '+77010000003', phone_number_id: '2', access_token_sealed: null },
    { ...cloud, name: 'C3', display_number: '+77010000004', phone_number_id: '3', session: 's9' },
    { ...waha, name: 'W2', display_number: '+77010000005', session: 's2', access_token_sealed: 'v1:k:x' },
    { ...waha, name: 'W3', display_number: '+77010000006', session: null },
    { ...waha, name: 'W4', display_number: '77010000007', session: 's4' },
    { ...waha, name: 'W5', display_number: '+77010000008', session: 's5', provider: 'telegram' },
  ]) {
    await expect(t.db('whatsapp_accounts').insert(bad)).rejects.toMatchObject({ code: '23514' });
  }
  await expect(t.db('whatsapp_accounts').insert({ ...waha, name: 'W6', display_number: '+77010000009' })).rejects.toMatchObject({ code: '23505' });
  const [r] = await t.db('restaurants').insert({ name: 'R7', timezone: 'UTC', whatsapp_account_id: c.id }).returning('id');
  await expect(t.db('whatsapp_accounts').where({ id: c.id }).delete()).rejects.toMatchObject({ code: '23503' });
  await t.db('restaurants').where({ id: r.id }).delete();
  expect(await t.db('whatsapp_accounts').where({ id: c.id }).delete()).toBe(1);
});

import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { createDb, migrateLatest, type Db } from '../../db/knex';

export interface TestDatabase {
  db: Db;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database on the test Postgres (embedded, or TEST_DATABASE_URL's
 * server), so test files never see each other's rows.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!serverUrl) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (globalSetup starts Postgres)');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: serverUrl, pool: { min: 0, max: 1 } });
  await admin.raw(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), { min: 0, max: 5 });
  await migrateLatest(db);
  // Workflow ids are `booking-<id>` and every file shares one dev server: give each database
  // its own id range so two files never address the same workflow.
  await db.raw('select setval(?, ?)', ['bookings_id_seq', 1_000 + (randomBytes(3).readUIntBE(0, 3) % 1_000_000) * 1_000]);
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.destroy();
      await admin.raw(`drop database if exists ${name} with (force)`);
      await admin.destroy();
    },
  };
}

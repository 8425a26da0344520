import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import * as schema from './migrations/001_schema';
import * as inboxIndex from './migrations/002_inbox_index';
import * as inboxLease from './migrations/003_inbox_lease';
import * as visit from './migrations/004_visit';
import * as statsIndexes from './migrations/005_stats_indexes';
import * as outboundSent from './migrations/006_outbound_sent';
import * as whatsappAccounts from './migrations/007_whatsapp_accounts';
import * as messageAccounts from './migrations/008_message_accounts';

// Bigint counts and numeric aggregates arrive as strings by default; ours fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

/**
 * Migrations are listed here rather than discovered on disk, so they run the same under
 * tsx, jest and compiled JavaScript. Append new ones; never edit one that has shipped.
 */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '001_schema': schema,
  '002_inbox_index': inboxIndex,
  '003_inbox_lease': inboxLease,
  '004_visit': visit,
  '005_stats_indexes': statsIndexes,
  '006_outbound_sent': outboundSent,
  '007_whatsapp_accounts': whatsappAccounts,
  '008_message_accounts': messageAccounts,
};

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name],
};

export interface DbLogger {
  warn(msg: string): void;
  error(msg: string): void;
  debug(msg: string): void;
}

export function createDb(databaseUrl: string, pool: Knex.PoolConfig = { min: 0, max: 10 }, logger?: DbLogger): Db {
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    pool,
    // Waiting longer for a connection than a client waits for its answer helps nobody: an
    // unreachable Postgres becomes a KnexTimeoutError, which the API answers with a 503.
    acquireConnectionTimeout: 3_000,
    migrations: { migrationSource },
    // A failed query's message would otherwise carry its bound values (phones, payloads) into logs.
    compileSqlOnError: false,
    // Knex prints to the console by default; route it to the structured log instead.
    ...(logger && {
      log: {
        warn: (m: unknown) => logger.warn(String(m)),
        error: (m: unknown) => logger.error(String(m)),
        debug: (m: unknown) => logger.debug(String(m)),
        deprecate: (m: unknown) => logger.warn(String(m)),
      },
    }),
  });
}

/** Any constant of our own: session advisory locks are per database, so one key per schema suffices. */
const MIGRATION_LOCK_KEY = 7_461_230_918;

/**
 * Migrates under a Postgres session advisory lock, so processes starting together (`npm run
 * api` and `npm run worker` on an empty database) take turns: knex's own lock lives in a
 * table it first has to create, and two starters race on creating it. The lock is held on
 * one pooled connection while knex migrates on others (every pool here has at least two);
 * a starter that dies releases it with its connection. The second one in finds nothing to do.
 */
export async function migrateLatest(db: Db): Promise<string[]> {
  const connection = await db.client.acquireConnection();
  try {
    await db.raw('select pg_advisory_lock(?)', [MIGRATION_LOCK_KEY]).connection(connection);
    try {
      const [, applied] = await db.migrate.latest();
      return applied;
    } finally {
      await db.raw('select pg_advisory_unlock(?)', [MIGRATION_LOCK_KEY]).connection(connection);
    }
  } finally {
    await db.client.releaseConnection(connection);
  }
}

export async function migrateRollbackAll(db: Db): Promise<void> {
  await db.migrate.rollback(undefined, true);
}

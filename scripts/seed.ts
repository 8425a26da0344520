/**
 * `npm run seed`: a demo restaurant to try the system with. Running it again adds only what
 * is missing, so it is safe after a partial run or on top of hand-made changes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config';
import { DEMO, seedDemoRestaurant } from '../db/demo';
import { createDb, migrateLatest, type Db } from '../db/knex';

/** DATABASE_URL, else the embedded server's address that `npm start` leaves in the data dir. */
function databaseUrl(config: Config): string | undefined {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const file = path.join(config.dataDir, 'database-url');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : undefined;
}

async function seed(db: Db): Promise<void> {
  const { restaurant, created, tableIds, menuItemIds, members } = await seedDemoRestaurant(db);
  console.log(`${restaurant.name}: restaurant id ${restaurant.id}${created ? '' : ' (already there)'}`);
  console.log('  tables:     ' + DEMO.tables.map((t) => `${t.name}=${tableIds.get(t.name)}`).join(', '));
  console.log('  menu items: ' + DEMO.menu.map((i) => `${i.name}=${menuItemIds.get(i.name)}`).join(', '));
  for (const member of members) {
    console.log(`  ${member.role.padEnd(8)}    ${member.name}: user id ${member.userId}, phone ${member.phone}`);
  }
}

async function main(): Promise<number> {
  const config = loadConfig();
  const url = databaseUrl(config);
  if (!url) {
    console.error(
      'No database to seed: set DATABASE_URL, or start the stack first with `npm start` ' +
        `(it leaves the embedded database's address in ${path.join(config.dataDir, 'database-url')}).`,
    );
    return 1;
  }
  const db = createDb(url, { min: 0, max: 2 });
  try {
    await migrateLatest(db);
    await seed(db);
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      const { host, pathname } = new URL(url);
      console.error(`Cannot reach PostgreSQL at ${host}${pathname}: is the stack (\`npm start\`) running?`);
      return 1;
    }
    throw err;
  } finally {
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  },
);

/**
 * `npm run chaos` (issue #8): failure scenarios against the production topology on
 * 127.0.0.1 — embedded Postgres, a Temporal dev server on a SQLite file, the fake Graph API
 * (behind a fault-injecting proxy where a scenario needs one), and `npm run api` and
 * `npm run worker` as separate processes, each killed with SIGKILL and restarted by its id.
 * Every assertion is printed PASS/FAIL; the exit code is 1 if any failed.
 *
 *   npm run chaos                         every scenario (bounded: about 10 minutes)
 *   CHAOS_ONLY=redelivery npm run chaos   one scenario by name
 */
import { Checks } from './checks';
import { graphFaults } from './scenarios/graphFaults';
import { workerOutage } from './scenarios/outage';
import { redeliveryStorm } from './scenarios/redelivery';
import { serverRestarts } from './scenarios/restarts';
import { workerKills } from './scenarios/workerKills';

const SCENARIOS: [string, string, (c: Checks) => Promise<void>][] = [
  ['redelivery', 'redelivery storm: every webhook 2-5x, shuffled, concurrent', redeliveryStorm],
  ['worker-kills', 'worker SIGKILLed at random points over 50 bookings', workerKills],
  ['outage', 'worker down longer than every deadline while bookings arrive', workerOutage],
  ['graph-faults', 'Graph API: 30% 500/429, 131026 for one manager', graphFaults],
  ['restarts', 'Postgres, then Temporal, SIGKILLed and restarted under load', serverRestarts],
];
/** The whole run's bound: a scenario still running then is a failure, and the process exits. */
const RUN_LIMIT_MS = 10 * 60_000;

async function main() {
  const only = process.env.CHAOS_ONLY?.split(',');
  const selected = SCENARIOS.filter(([name]) => !only || only.includes(name));
  if (selected.length === 0) throw new Error(`CHAOS_ONLY names none of: ${SCENARIOS.map(([n]) => n).join(', ')}`);
  const all: Checks['results'] = [];
  const limit = setTimeout(() => {
    console.log(`\nFAIL  chaos run exceeded ${RUN_LIMIT_MS / 60_000} minutes`);
    process.exit(1); // the processes module kills every process group it started on exit
  }, RUN_LIMIT_MS);
  for (const [name, title, run] of selected) {
    console.log(`\n== ${name}: ${title}`);
    const started = Date.now();
    const c = new Checks(name);
    await run(c).catch((err) => c.crashed(err));
    console.log(`   (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    all.push(...c.results);
  }
  clearTimeout(limit);
  console.log('\nchaos summary');
  for (const [name] of selected) {
    const mine = all.filter((r) => r.scenario === name);
    const failed = mine.filter((r) => !r.ok);
    console.log(`  ${failed.length ? 'FAIL' : 'PASS'}  ${name} (${mine.length - failed.length}/${mine.length} checks)${failed.length ? `: ${failed.map((f) => f.name).join('; ')}` : ''}`);
  }
  return all.every((r) => r.ok);
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

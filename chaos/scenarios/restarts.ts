import { newGuest } from '../../bench/lib/fixtures';
import { inboundText, newMessageId } from '../../bench/lib/meta';
import { sleep } from '../../bench/lib/stats';
import type { Stack } from '../../bench/lib/stack';
import type { Checks } from '../checks';
import { allReach, noFailedWorkflows, noInboundLost, rowsMatchWorkflows } from '../invariants';
import { chaosStack, createBookings, log } from './common';

interface Answer {
  id: string;
  status: number;
  at: number;
}

/** Signed inbound texts at about `perSecond`, each a fresh message id, until stop() (an open loop). */
function load(stack: Stack, perSecond: number, body: (id: string) => unknown) {
  const answers: Answer[] = [];
  const inFlight = new Set<Promise<void>>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const id = newMessageId();
      const p = stack.webhook.post(body(id)).then((status) => void answers.push({ id, status, at: Date.now() }));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      await sleep(1000 / perSecond);
    }
  })();
  return {
    answers,
    async stop() {
      running = false;
      await loop;
      await Promise.all(inFlight);
    },
  };
}

/**
 * Postgres SIGKILLed and restarted under webhook load: while it is down the webhook answers
 * 503 (Meta retries), never 200, and every 200 is stored and acted on. Then the Temporal dev
 * server SIGKILLed and restarted while guests claim: the webhook answers normally throughout
 * and every claim is acted on once Temporal is back.
 */
/** SIGKILLs a server, keeps it down for `ms`, starts it again; when it went down and came back. */
async function killFor(server: { kill(): Promise<void>; start(): Promise<void> }, name: string, ms: number) {
  await server.kill();
  const downAt = Date.now();
  log(`${name} SIGKILLed`);
  await sleep(ms);
  const upAt = Date.now();
  await server.start();
  log(`${name} restarted`);
  return { downAt, upAt };
}

export async function serverRestarts(c: Checks) {
  const { stack, r } = await chaosStack('chaos-restarts');
  try {
    const texts = load(stack, 40, (id) => inboundText(newGuest(), `hello ${id}`, id));
    await sleep(2000);
    const { downAt, upAt } = await killFor(stack.pg, 'Postgres', 5000);
    await sleep(3000);
    await texts.stop();
    // A request answered in the first moments may have committed before the kill.
    const whileDown = texts.answers.filter((a) => a.at > downAt + 500 && a.at < upAt);
    const down200 = whileDown.filter((a) => a.status === 200).length;
    const down503 = whileDown.filter((a) => a.status === 503).length;
    c.check('webhook answers 503 while Postgres is down', whileDown.length > 0 && down503 === whileDown.length, `${whileDown.length} answers while down: ${down503} × 503, ${down200} × 200, others ${whileDown.length - down503 - down200}`);
    c.check('webhook answers 200 again once Postgres is back', texts.answers.some((a) => a.at > upAt + 1000 && a.status === 200));
    await noInboundLost(stack, c, texts.answers.filter((a) => a.status === 200).map((a) => a.id), 120_000);

    const bookings = await createBookings(stack, r, 20);
    let next = 0;
    const claims = load(stack, 4, (id) => inboundText(newGuest(), bookings[next++ % bookings.length].claimText, id));
    await sleep(1000);
    const { downAt: tDown, upAt: tUp } = await killFor(stack.temporal, 'Temporal', 4000);
    await sleep(4000);
    await claims.stop();
    const claimAnswers = claims.answers;
    const during = claimAnswers.filter((a) => a.at > tDown && a.at < tUp);
    c.check('webhook answers 200 while Temporal is down', during.length > 0 && during.every((a) => a.status === 200), `${during.filter((a) => a.status === 200).length}/${during.length}`);
    // A worker that lost Temporal for good stops itself; a supervisor restarts it: so does this harness.
    if (!stack.worker.running()) {
      log('the worker stopped with Temporal; restarting it as a supervisor would');
      await stack.worker.start();
    }
    const claimedIds = bookings.slice(0, Math.min(bookings.length, claimAnswers.length)).map((b) => b.id);
    await allReach(stack, c, claimedIds, ['PENDING'], 120_000);
    await noInboundLost(stack, c, claimAnswers.filter((a) => a.status === 200).map((a) => a.id), 120_000);
    await rowsMatchWorkflows(stack, c, bookings.map((b) => b.id));
    await noFailedWorkflows(stack, c);
  } finally {
    await stack.stop();
  }
}

import { claimInvalidText } from './texts';
import type { Checks } from './checks';
import type { Stack } from '../bench/lib/stack';
import { until } from '../bench/lib/stats';

/**
 * The properties every scenario ends on, read from where they are true or false: Postgres
 * rows, Temporal's own record of the workflows, and what the fake Graph API accepted.
 */

/** Each history row starts where the previous one ended: a transition applied twice would break the chain. */
export async function noDoubleTransitions(stack: Stack, c: Checks) {
  const { rows } = await stack.sql.query(`
    select booking_id, from_status, to_status, lag(to_status) over (partition by booking_id order by id) as previous
    from booking_history`);
  const broken = rows.filter((r) => r.previous !== null && r.from_status !== r.previous);
  const { rows: dup } = await stack.sql.query(`select booking_id, to_status from booking_history group by 1, 2 having count(*) > 1`);
  c.check('0 double transitions in booking_history', broken.length === 0 && dup.length === 0, `${broken.length} broken chains, ${dup.length} repeated statuses`);
}

/**
 * Meta has no idempotency key: a message POSTed twice reaches the phone twice. Identical
 * bodies to one recipient are duplicates (scenarios give every guest distinct texts), and
 * every message Meta accepted must be recorded against its idempotency key in
 * whatsapp_messages, or a retry cannot know it was sent.
 */
export async function noDuplicateSends(stack: Stack, c: Checks) {
  const seen = new Map<string, number>();
  for (const m of stack.graph.accepted) {
    const key = `${m.to} ${JSON.stringify(m.body)}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const dups = [...seen.values()].filter((n) => n > 1).length;
  const { rows } = await stack.sql.query(`select provider_message_id from whatsapp_messages where direction = 'out' and provider_message_id is not null`);
  const recorded = new Set(rows.map((r) => r.provider_message_id));
  const unrecorded = stack.graph.accepted.filter((m) => !recorded.has(m.id)).length;
  c.check('0 duplicate sends at the Graph API', dups === 0, `${stack.graph.accepted.length} accepted, ${dups} sent more than once`);
  // Which rows lack a message id, to tell a lost record from a send that is still retrying.
  const { rows: open } = await stack.sql.query(`select purpose, status, count(*)::int as n from whatsapp_messages where direction = 'out' and provider_message_id is null group by 1, 2`);
  c.check(
    'every accepted send recorded with its idempotency key',
    unrecorded === 0,
    `${unrecorded} accepted but not recorded; rows without a message id: ${open.map((r) => `${r.purpose}/${r.status} ${r.n}`).join(', ') || 'none'}`,
  );
}

/** Every inbound message the webhook acknowledged has a row, and the inbox acted on each one. */
export async function noInboundLost(stack: Stack, c: Checks, acked: string[], timeoutMs = 60_000) {
  const read = async () => {
    const { rows } = await stack.sql.query(`select provider_message_id, processed_at from whatsapp_messages where direction = 'in' and provider_message_id = any($1)`, [acked]);
    return { stored: rows.length, processed: rows.filter((r) => r.processed_at).length };
  };
  const last = await until('every acknowledged message processed', async () => {
    const r = await read();
    return r.processed === acked.length ? r : undefined;
  }, timeoutMs, 250).catch(read);
  c.check('0 inbound lost: every acknowledged message stored', last.stored === acked.length, `${last.stored}/${acked.length}`);
  c.check('every stored inbound message processed', last.processed === last.stored, `${last.processed}/${last.stored}`);
}

/** Temporal's list: no booking workflow failed, timed out or was terminated. */
export async function noFailedWorkflows(stack: Stack, c: Checks) {
  const bad: string[] = [];
  for await (const wf of stack.client.workflow.list({ query: `WorkflowType = 'bookingWorkflow' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'Completed'` })) {
    bad.push(`${wf.workflowId} ${wf.status.name}`);
  }
  c.check('no workflow FAILED (Temporal list)', bad.length === 0, bad.slice(0, 5).join(', '));
}

/** The row's status is the workflow's (query), for every booking; waits for in-flight transitions to land. */
export async function rowsMatchWorkflows(stack: Stack, c: Checks, bookingIds: number[], timeoutMs = 60_000) {
  const mismatches = async () => {
    const { rows } = await stack.sql.query(`select id, status from bookings where id = any($1)`, [bookingIds]);
    const out: string[] = [];
    for (const r of rows) {
      const state = await stack.client.workflow
        .getHandle(`booking-${r.id}`)
        .query<{ status: string }>('status')
        .catch((err: Error) => ({ status: `unqueryable (${err.message.split('\n')[0]})` }));
      if (state.status !== r.status) out.push(`#${r.id} row ${r.status} workflow ${state.status}`);
    }
    return out;
  };
  const last = await until('rows to match their workflows', async () => {
    const m = await mismatches();
    return m.length === 0 ? m : undefined;
  }, timeoutMs, 1000).catch(mismatches);
  c.check('every row status == its workflow status query', last.length === 0, last.length ? `${last.length} differ, e.g. ${last.slice(0, 3).join('; ')}` : `${bookingIds.length} bookings`);
}

export async function statusCounts(stack: Stack, bookingIds: number[]) {
  const { rows } = await stack.sql.query(`select status, count(*)::int as n from bookings where id = any($1) group by 1 order by 1`, [bookingIds]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>;
}

/** Waits until every booking is in one of `statuses`. */
export async function allReach(stack: Stack, c: Checks, bookingIds: number[], statuses: string[], timeoutMs = 60_000, which = 'every booking') {
  const ok = await until(`bookings to reach ${statuses.join('/')}`, async () => {
    const counts = await statusCounts(stack, bookingIds);
    return statuses.reduce((n, s) => n + (counts[s] ?? 0), 0) === bookingIds.length ? true : undefined;
  }, timeoutMs, 250).catch(() => false);
  c.check(`${which} reaches ${statuses.join(' or ')}`, ok, JSON.stringify(await statusCounts(stack, bookingIds)));
}

/** Guests answered "no booking for this code" for a code that was valid when they sent it. */
export function claimsAnsweredNotFound(stack: Stack, guests: string[]) {
  const set = new Set(guests);
  const start = claimInvalidText().slice(0, 40);
  return stack.graph.accepted.filter((m) => set.has(m.to) && JSON.stringify(m.body).includes(start)).length;
}

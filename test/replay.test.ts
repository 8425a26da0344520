/**
 * Replays recorded booking histories against today's workflow code: a change that would
 * make running bookings non-deterministic fails here, before it reaches a worker.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR } from './helpers/histories';
import { getWorkflowBundle, quietRuntime } from './helpers/temporal';

quietRuntime();
const files = fs.readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')).sort();

test('fixtures exist for the main paths of a booking, recorded before and after the local-steps and visit patches', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      // Recorded before LOCAL_STEPS_PATCH (workflows/booking.ts): they must keep taking the old path.
      'pre-local-steps-e2e-approved.json',
      'pre-local-steps-e2e-rejected.json',
      'pre-local-steps-timeskip-escalation-expiry.json',
      'timeskip-escalation-expiry.json',
      'timeskip-approved-early.json',
      'timeskip-cancelled.json',
      'timeskip-resume-pending.json',
      'timeskip-resume-final.json',
      // Recorded before VISIT_PATCH: no reminders, no reason wait, no arrival check, no guest cancel cutoff.
      'pre-visit-whatsapp-reject.json',
      'pre-visit-approved-to-end.json',
      'pre-visit-guest-cancel-late.json',
      'visit-completed.json',
      'visit-no-show.json',
      'visit-reject-reason-timeout.json',
    ]),
  );
});

test.each(files)('%s replays without non-determinism', async (file) => {
  const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
  await Worker.runReplayHistory({ workflowBundle: await getWorkflowBundle(require.resolve('../workflows')) }, history, file);
});

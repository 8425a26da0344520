import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Config } from '../config';
import { createActivities, type ActivityDeps } from '../activities';

export interface BookingWorkerOptions extends ActivityDeps {
  config: Config;
  connection: NativeConnection;
  /** The payload encryption (temporal/codec.ts); the same as the clients'. */
  dataConverter: DataConverter;
  /** A prebuilt bundle (tests build one per run); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundle;
}

/** The worker that runs booking workflows and their activities on the configured task queue. */
export function createBookingWorker(opts: BookingWorkerOptions): Promise<Worker> {
  const { config, connection, dataConverter, workflowBundle, ...deps } = opts;
  return Worker.create({
    connection,
    dataConverter,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities({ config, ...deps }),
    // Bounds memory however many bookings are open; an evicted one replays on its next event.
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  });
}

import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Config } from '../config';
import { createActivities, type ActivityDeps } from '../activities';

export interface BookingWorkerOptions extends ActivityDeps {
  config: Config;
  connection: NativeConnection;
  /** A prebuilt bundle (tests build one per run); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundle;
}

/** The worker that runs booking workflows and their activities on the configured task queue. */
export function createBookingWorker(opts: BookingWorkerOptions): Promise<Worker> {
  const { config, connection, workflowBundle, ...deps } = opts;
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities({ config, ...deps }),
  });
}

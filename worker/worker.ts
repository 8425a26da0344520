import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Config } from '../config';
import { createActivities, type ActivityDeps } from '../activities';
import type { Logger } from '../observability/logger';
import { bundleWorkflowsInChild, prebuiltWorkflowBundle } from './bundle';

export interface BookingWorkerOptions extends ActivityDeps {
  config: Config;
  connection: NativeConnection;
  /** The payload encryption (temporal/codec.ts); the same as the clients'. */
  dataConverter: DataConverter;
  /**
   * A prebuilt bundle (tests build one per run); otherwise the build's (dist/workflow-bundle.js),
   * and from source the workflows are bundled at start, in a child process.
   */
  workflowBundle?: WorkflowBundle;
}

/** The worker that runs booking workflows and their activities on the configured task queue. */
export async function createBookingWorker(opts: BookingWorkerOptions): Promise<Worker> {
  const { config, connection, dataConverter, workflowBundle, ...deps } = opts;
  const prebuilt = workflowBundle ? undefined : prebuiltWorkflowBundle();
  if (prebuilt) deps.logger.info({ codePath: prebuilt.codePath }, 'workflows from the prebuilt bundle');
  else if (!workflowBundle) deps.logger.info('bundling the workflows (npm run build prebuilds them) ...');
  const worker = await Worker.create({
    connection,
    dataConverter,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowBundle: workflowBundle ?? prebuilt ?? (await bundleWorkflowsInChild(dataConverter)),
    activities: createActivities({ config, ...deps }),
    // Bounds memory however many bookings are open; an evicted one replays on its next event.
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  });
  if (config.WORKER_MEMORY_LOG_SECONDS > 0) logMemory(worker, deps.logger, config.WORKER_MEMORY_LOG_SECONDS * 1000);
  return worker;
}

/**
 * Sizing aid: RSS beside the V8 heap tells live data from memory V8 or the Rust core keeps,
 * and the cached-workflow count ties it to WORKER_MAX_CACHED_WORKFLOWS.
 */
function logMemory(worker: Worker, logger: Logger, everyMs: number): void {
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  const timer = setInterval(() => {
    const state = worker.getState();
    if (state === 'STOPPED' || state === 'FAILED') return clearInterval(timer);
    const m = process.memoryUsage();
    logger.info(
      {
        rssMiB: mib(m.rss),
        heapUsedMiB: mib(m.heapUsed),
        heapTotalMiB: mib(m.heapTotal),
        externalMiB: mib(m.external),
        cachedWorkflows: worker.getStatus().numCachedWorkflows,
      },
      'worker memory',
    );
  }, everyMs);
  // A diagnostic never keeps the process alive.
  timer.unref();
}

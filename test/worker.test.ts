/**
 * The production worker's own wiring (worker/worker.ts): the workflow bundle built in a child
 * process, and the memory log operators size WORKER_MAX_CACHED_WORKFLOWS with. Real dev
 * server; the activities' dependencies are never called, so they are stand-ins.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import pino from 'pino';
import { loadConfig } from '../config';
import { FAILURE_CONVERTER_PATH } from '../temporal/codec';
import { bundleWorkflowsInChild } from '../worker/bundle';
import { createBookingWorker } from '../worker/worker';
import { HISTORIES_DIR } from './helpers/histories';
import { connectDevServer, uniqueId, type DevServerConnection } from './helpers/temporal';

jest.setTimeout(120_000);

let temporal: DevServerConnection;
let bundle: WorkflowBundle;

beforeAll(async () => {
  temporal = await connectDevServer();
  bundle = await bundleWorkflowsInChild({ failureConverterPath: FAILURE_CONVERTER_PATH });
});
afterAll(() => temporal?.close());

test('the bundle built in a child process holds the workflows and the failure converter, and replays recorded bookings', async () => {
  const code = 'code' in bundle ? bundle.code : '';
  expect(code.includes('./temporal/failureConverter.ts')).toBe(true);
  const file = 'timeskip-escalation-expiry.json';
  const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
  await Worker.runReplayHistory({ workflowBundle: bundle }, history, file);
});

test('WORKER_MEMORY_LOG_SECONDS logs RSS, heap and cached workflows while the worker runs, and stops with it', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const config = { ...loadConfig({}), TEMPORAL_TASK_QUEUE: uniqueId('worker-memory'), WORKER_MEMORY_LOG_SECONDS: 1 };
  const worker = await createBookingWorker({
    config,
    connection: temporal.nativeConnection,
    dataConverter: temporal.dataConverter!,
    workflowBundle: bundle,
    db: {} as never,
    channel: {} as never,
    logger,
  });
  await worker.runUntil(() => new Promise((resolve) => setTimeout(resolve, 2_500)));
  const memory = lines.filter((l) => l.msg === 'worker memory');
  expect(memory.length).toBeGreaterThanOrEqual(2);
  expect(memory[0]).toEqual(
    expect.objectContaining({
      rssMiB: expect.any(Number),
      heapUsedMiB: expect.any(Number),
      heapTotalMiB: expect.any(Number),
      externalMiB: expect.any(Number),
      cachedWorkflows: 0,
    }),
  );
  const afterStop = memory.length;
  await new Promise((resolve) => setTimeout(resolve, 2_200));
  expect(lines.filter((l) => l.msg === 'worker memory').length).toBeLessThanOrEqual(afterStop + 1);
});

import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  IllegalStateError,
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { parsePayloadKeys } from '../../config/payloadKeys';
import { createPayloadEncryption, FAILURE_CONVERTER_PATH } from '../../temporal/codec';
import { SEARCH_ATTRIBUTES } from '../../temporal/searchAttributes';

/** What a worker needs to poll: a TestWorkflowEnvironment fits, and so does connectDevServer()'s result. */
export interface TemporalTarget {
  client: Client;
  nativeConnection: NativeConnection;
  namespace?: string;
  /** The client's; withWorker gives the worker the same, or the two could not read each other. */
  dataConverter?: DataConverter;
}

export interface DevServerConnection extends TemporalTarget {
  namespace: string;
  close(): Promise<void>;
}

/**
 * One fixed key for every test system and dev-server client (TEMPORAL_PAYLOAD_KEYS format), so
 * a test can read what a system under test wrote to Temporal. Never a production key.
 */
export const TEST_PAYLOAD_KEYS = `test-key:${Buffer.alloc(32, 'wa-booking test key').toString('base64')}`;
export const testPayloadEncryption = createPayloadEncryption(parsePayloadKeys(TEST_PAYLOAD_KEYS).keys);

/** The CLI's type names, as SEARCH_ATTRIBUTES uses them, in the API's spelling. */
const INDEXED_VALUE_TYPES = {
  Text: 'TEXT',
  Keyword: 'KEYWORD',
  Int: 'INT',
  Double: 'DOUBLE',
  Bool: 'BOOL',
  Datetime: 'DATETIME',
  KeywordList: 'KEYWORD_LIST',
} as const;

/**
 * Worker lifecycle INFO lines, and the WARN every workflow-only test worker gets, would bury
 * test output. A test file that installs its own Runtime before using these helpers keeps it.
 */
export function quietRuntime(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger('WARN', ({ level, message, meta }) => {
        if (message.startsWith('No activities registered')) return;
        process.stderr.write(`[temporal ${level}] ${message}${meta ? ` ${JSON.stringify(meta)}` : ''}\n`);
      }),
    });
  } catch (err) {
    if (!(err instanceof IllegalStateError)) throw err;
  }
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through jest (test/setup/globalSetup.ts sets it)`);
  return value;
}

/**
 * A private time-skipping server (the Java test server globalSetup provisioned) with our
 * search attributes. Time is global per server, so use one per test file and keep that
 * file's tests serial; call `env.teardown()` in afterAll.
 */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: requireEnv('TEMPORAL_TEST_SERVER_PATH') } },
  });
  try {
    // The Java test server knows only a few predefined search attributes.
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(
        Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [
          name,
          encodeSearchAttributeIndexedValueType(INDEXED_VALUE_TYPES[type])!,
        ]),
      ),
    });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  releaseLeakedTimeLock(env);
  return env;
}

/** A skip takes milliseconds; a sleep still under way after this is held by a leaked lock. */
const STUCK_SKIP_MS = 15_000;

/**
 * The Java test server now and then keeps a time-skipping lock for something that is gone
 * (temporalio/sdk-java#1138 is one such case): every later env.sleep() then passes in real
 * time, and the file's remaining tests time out one after the other (under load, most runs of
 * the time-skipping files met one). A sleep still under way after STUCK_SKIP_MS gives that
 * lock back and ends as a sleep should; the warning says it happened.
 */
function releaseLeakedTimeLock(env: TestWorkflowEnvironment): void {
  const sleep = env.sleep;
  env.sleep = async (duration) => {
    const done = sleep(duration);
    const watchdog = setTimeout(() => {
      console.warn(`env.sleep(${String(duration)}) stuck for ${STUCK_SKIP_MS} ms: releasing the test server's leaked time-skipping lock`);
      void env.connection.testService?.unlockTimeSkipping({}).catch(() => undefined);
    }, STUCK_SKIP_MS);
    try {
      await done;
    } finally {
      clearTimeout(watchdog);
    }
  };
}

/**
 * Client and worker connections to the dev server shared by the whole test run (namespace
 * `default`, our search attributes registered). Other files use it concurrently, so give
 * workflows unique ids and task queues (uniqueId()).
 */
export async function connectDevServer(): Promise<DevServerConnection> {
  const address = requireEnv('TEST_TEMPORAL_ADDRESS');
  const namespace = 'default';
  quietRuntime();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const { dataConverter } = testPayloadEncryption;
  return {
    client: new Client({ connection, namespace, dataConverter }),
    nativeConnection,
    namespace,
    dataConverter,
    async close() {
      await nativeConnection.close();
      await connection.close();
    },
  };
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/** Bundling costs over a second; every worker in this process reuses the bundle of a given path. */
export function getWorkflowBundle(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundles.get(workflowsPath);
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath, failureConverterPath: FAILURE_CONVERTER_PATH, logger: new DefaultLogger('WARN') });
    bundles.set(workflowsPath, bundle);
    bundle.catch(() => bundles.delete(workflowsPath));
  }
  return bundle;
}

/** Workflow ids and task queues must not collide with other test files on the shared dev server. */
export const uniqueId = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

export interface TestWorkerOptions extends Partial<Omit<WorkerOptions, 'connection' | 'namespace' | 'workflowsPath'>> {
  /** Module exporting the workflows (absolute path, e.g. require.resolve('../workflows')); bundled once per process. */
  workflowsPath?: string;
}

/**
 * Runs a worker on `target` for the duration of `fn`, which receives the worker's task queue
 * (a fresh one unless given). The worker is shut down, and awaited, whatever `fn` does.
 */
export async function withWorker<T>(
  target: TemporalTarget,
  options: TestWorkerOptions,
  fn: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const { workflowsPath, ...rest } = options;
  quietRuntime();
  const taskQueue = options.taskQueue ?? uniqueId('test');
  const worker = await Worker.create({
    dataConverter: target.dataConverter,
    ...rest,
    connection: target.nativeConnection,
    namespace: target.namespace ?? 'default',
    taskQueue,
    workflowBundle: options.workflowBundle ?? (workflowsPath ? await getWorkflowBundle(workflowsPath) : undefined),
  });
  return worker.runUntil(() => fn(taskQueue));
}

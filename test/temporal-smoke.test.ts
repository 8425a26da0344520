import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { onUnhandledSignal, withSignalListenersAsFallbacks } from '../runtime/signals';
import { findFreePort, startDevServer } from '../temporal/devServer';
import { ENCRYPTED_ENCODING } from '../temporal/codec';
import { BookingStatusKey } from '../temporal/searchAttributes';
import {
  connectDevServer,
  createTimeSkippingEnv,
  uniqueId,
  withWorker,
  type DevServerConnection,
  type TemporalTarget,
} from './helpers/temporal';
import { greet, sleepFor } from './workflows/smoke';

const workflowsPath = require.resolve('./workflows/smoke');
const DAY_MS = 24 * 60 * 60 * 1000;

async function searchAttributesAreRegistered(target: TemporalTarget): Promise<void> {
  const handle = await target.client.workflow.start(sleepFor, {
    args: ['1 hour'],
    taskQueue: uniqueId('no-worker'),
    workflowId: uniqueId('search-attributes'),
    typedSearchAttributes: [{ key: BookingStatusKey, value: 'PENDING' }],
  });
  try {
    expect((await handle.describe()).typedSearchAttributes.get(BookingStatusKey)).toBe('PENDING');
  } finally {
    await handle.terminate();
  }
}

describe('shared dev server', () => {
  let dev: DevServerConnection;
  beforeAll(async () => {
    dev = await connectDevServer();
  });
  afterAll(() => dev.close());

  test('runs a workflow, its payloads encrypted', async () => {
    const workflowId = uniqueId('greet');
    const result = await withWorker(dev, { workflowsPath }, (taskQueue) =>
      dev.client.workflow.execute(greet, { args: ['dev'], taskQueue, workflowId }),
    );
    expect(result).toMatch(/^hello dev from test-/);
    const { events } = await dev.client.workflow.getHandle(workflowId).fetchHistory();
    const [completed] = events!.find((e) => e.workflowExecutionCompletedEventAttributes)!.workflowExecutionCompletedEventAttributes!.result!.payloads!;
    expect(Buffer.from(completed!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
  });

  test('has our search attributes', () => searchAttributesAreRegistered(dev));
});

describe('time-skipping server', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(() => env?.teardown());

  test('runs a workflow', async () => {
    const result = await withWorker(env, { workflowsPath }, (taskQueue) =>
      env.client.workflow.execute(greet, { args: ['test server'], taskQueue, workflowId: uniqueId('greet') }),
    );
    expect(result).toMatch(/^hello test server from test-/);
  });

  test('skips a day of sleep', async () => {
    const started = Date.now();
    const slept = await withWorker(env, { workflowsPath }, (taskQueue) =>
      env.client.workflow.execute(sleepFor, { args: ['1 day'], taskQueue, workflowId: uniqueId('sleep') }),
    );
    expect(slept).toBeGreaterThanOrEqual(DAY_MS);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test('has our search attributes', () => searchAttributesAreRegistered(env));
});

test('a dev server keeps its workflows in the SQLite file across restarts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-devserver-test-'));
  const start = async () =>
    startDevServer({
      cliPath: process.env.TEMPORAL_CLI_PATH!,
      dbFile: path.join(dir, 'temporal.sqlite'),
      port: await findFreePort(),
      headless: true,
      namespace: 'default',
    });
  const withClient = async <T>(address: string, fn: (client: Client) => Promise<T>) => {
    const connection = await Connection.connect({ address });
    try {
      return await fn(new Client({ connection }));
    } finally {
      await connection.close();
    }
  };
  try {
    let server = await start();
    try {
      await withClient(server.address, (client) =>
        client.workflow.start(sleepFor, {
          args: ['1 day'],
          taskQueue: 'nobody-polls',
          workflowId: 'survives-restart',
          typedSearchAttributes: [{ key: BookingStatusKey, value: 'PENDING' }],
        }),
      );
    } finally {
      await server.stop();
    }
    server = await start();
    try {
      const described = await withClient(server.address, (client) =>
        client.workflow.getHandle('survives-restart').describe(),
      );
      expect(described.status.name).toBe('RUNNING');
      expect(described.typedSearchAttributes.get(BookingStatusKey)).toBe('PENDING');
    } finally {
      await server.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the dev server's web UI is told the codec endpoint", async () => {
  const port = await findFreePort();
  const uiPort = await findFreePort();
  const endpoint = 'http://127.0.0.1:3999/codec';
  const server = await startDevServer({ cliPath: process.env.TEMPORAL_CLI_PATH!, port, uiPort, namespace: 'default', uiCodecEndpoint: endpoint });
  try {
    // The UI's own settings API: what its browser code reads to find the codec server.
    const settings = (await (await fetch(`${server.uiUrl}/api/v1/settings`)).json()) as { Codec: { Endpoint: string } };
    expect(settings.Codec.Endpoint).toBe(endpoint);
  } finally {
    await server.stop();
  }
});

describe('shutdown signals of modules that start servers', () => {
  // process.emit calls the listeners without a real signal.
  const emit = () => process.emit('SIGHUP', 'SIGHUP');
  // Alone with the test's listeners: the dev server's own fallback (above) would re-raise the signal.
  let others: NodeJS.SignalsListener[];
  beforeEach(() => {
    others = process.listeners('SIGHUP');
    process.removeAllListeners('SIGHUP');
  });
  afterEach(() => {
    process.removeAllListeners('SIGHUP');
    others.forEach((l) => process.on('SIGHUP', l));
  });

  test("a library's own signal hook waits while the host handles the signal itself", async () => {
    const library = jest.fn();
    await withSignalListenersAsFallbacks(async () => void process.on('SIGHUP', library));
    emit();
    expect(library).toHaveBeenCalledTimes(1); // nobody else listens: the library's hook still acts

    const host = jest.fn();
    process.on('SIGHUP', host);
    emit();
    expect(host).toHaveBeenCalledTimes(1);
    expect(library).toHaveBeenCalledTimes(1); // the host's shutdown is not raced
  });

  test('two fallbacks do not wait for each other', async () => {
    const a = jest.fn();
    const b = jest.fn();
    onUnhandledSignal('SIGHUP', a);
    await withSignalListenersAsFallbacks(async () => void process.on('SIGHUP', b));
    emit();
    expect([a.mock.calls.length, b.mock.calls.length]).toEqual([1, 1]);
  });
});

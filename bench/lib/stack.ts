import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { loadConfig } from '../../config';
import { generatePayloadKeys, parsePayloadKeys } from '../../config/payloadKeys';
import { createPayloadEncryption } from '../../temporal/codec';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../db/embedded';
import { findFreePort, startDevServer, type DevServerHandle } from '../../temporal/devServer';
import { provisionTemporalCli } from '../../temporal/provision';
import { GRAPH_ACCESS_TOKEN, startGraphStandIn, type GraphStandIn } from './graph';
import { webhookSender, PHONE_NUMBER_ID, type WebhookSender } from './meta';
import { findPid, killGroup, REPO_ROOT, spawnGroup, type Child } from './processes';
import { until } from './stats';

/**
 * The production topology on 127.0.0.1: embedded Postgres, a Temporal dev server keeping
 * its state in a SQLite file (so it survives a kill), the fake Graph API standing in for
 * Meta, and `npm run api` / `npm run worker` as separate processes configured only through
 * the environment — the entry points that stay stable while the code behind them changes.
 * Under NODE_ENV=production they run the compiled dist/, so the stack builds this tree first.
 */
export const APP_SECRET = 'bench-app-secret';
export const ADMIN_TOKEN = 'bench-admin-token-0123456789';
export const TASK_QUEUE = 'bookings';
const NAMESPACE = 'default';
/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW (@temporalio/proto is not a direct dependency). */
const TASK_QUEUE_TYPE_WORKFLOW = 1;

export interface Role {
  /** Starts the process and resolves once it serves (API: /health 200; worker: polling its task queue). */
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
  rssMiB(): number;
  running(): boolean;
}

export interface Server {
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Stack {
  dir: string;
  databaseUrl: string;
  temporalAddress: string;
  apiUrl: string;
  graph: GraphStandIn;
  pg: Server;
  temporal: Server;
  api: Role;
  worker: Role;
  /** Reads and signals booking workflows (with the app's payload keys). */
  client: Client;
  /** For the bench's floor workflows, whose worker has no keys. */
  plainClient: Client;
  sql: Pool;
  webhook: WebhookSender;
  admin<T = any>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export interface StackOptions {
  name: string;
  /** Extra variables for the api and worker processes (timings, log level). */
  env?: Record<string, string>;
  /** Points the app at something in front of the fake (a fault-injecting proxy). */
  graphUrl?: (fakeUrl: string) => Promise<string> | string;
  /**
   * Keep Temporal's state in a SQLite file so the dev server survives a kill (chaos). The
   * bench keeps it in memory: SQLite's fsyncs on one shared disk would dominate every figure,
   * and a production cluster's persistence does not look like that.
   */
  durableTemporal?: boolean;
  /**
   * The fake posts Meta's signed status webhooks to the API. Chaos needs them: a send whose
   * worker died after Meta accepted it is recognised by the status's callback data. The bench
   * leaves them off so its webhook figures measure only the load it sends itself.
   */
  statusWebhooks?: boolean;
  log?: (line: string) => void;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const log = o.log ?? (() => {});
  log('building (npm run build)');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wa-booking-${o.name}-`));
  // As root, Postgres runs as the `postgres` user, which must be able to enter this directory.
  fs.chmodSync(dir, 0o755);
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (let s = stops.pop(); s; s = stops.pop()) await s().catch((err) => console.error(err));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pgPort = await findFreePort();
    let pgHandle: EmbeddedPostgresHandle | undefined;
    const pgDir = path.join(dir, 'pg');
    const pg: Server = {
      async start() {
        pgHandle = await startEmbeddedPostgres({ dataDir: pgDir, port: pgPort });
      },
      async kill() {
        // The postmaster and its backends at once, as a power cut would; then a clean start must recover.
        const pid = Number(fs.readFileSync(path.join(pgDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
        const pids = [pid, ...childrenOf(pid)];
        for (const p of pids) killPid(p);
        await until('postgres to die', () => (pids.some(alive) ? undefined : true), 10_000, 20);
        pgHandle = undefined;
      },
      async stop() {
        await pgHandle?.stop();
        pgHandle = undefined;
      },
    };
    await pg.start();
    stops.push(() => pg.stop());
    const databaseUrl = `postgres://postgres:wa-booking-local@127.0.0.1:${pgPort}/wa_booking`;

    const cli = await provisionTemporalCli(loadConfig({}));
    const temporalPort = await findFreePort();
    let dev: DevServerHandle | undefined;
    const temporal: Server = {
      async start() {
        dev = await startDevServer({ cliPath: cli.path, port: temporalPort, headless: true, namespace: NAMESPACE, dbFile: o.durableTemporal ? path.join(dir, 'temporal.sqlite') : undefined });
      },
      async kill() {
        // startDevServer runs the CLI as a process-group leader; SIGKILL it by that group.
        const pid = findPid('start-dev', String(temporalPort));
        if (pid) killGroup(pid, 'SIGKILL');
        await dev?.stop();
        dev = undefined;
      },
      async stop() {
        await dev?.stop();
        dev = undefined;
      },
    };
    await temporal.start();
    stops.push(() => temporal.stop());
    const temporalAddress = `127.0.0.1:${temporalPort}`;

    const graph = await startGraphStandIn();
    stops.push(() => graph.close());
    const graphUrl = o.graphUrl ? await o.graphUrl(graph.url) : graph.url;

    const connection = await Connection.connect({ address: temporalAddress });
    stops.push(() => connection.close());
    // The harness reads booking workflows (queries, histories), so it holds the app's keys.
    const payloadKeys = generatePayloadKeys();
    const client = new Client({ connection, namespace: NAMESPACE, dataConverter: createPayloadEncryption(parsePayloadKeys(payloadKeys).keys).dataConverter });
    const plainClient = new Client({ connection, namespace: NAMESPACE });
    const sql = new Pool({ connectionString: databaseUrl, max: 4 });
    sql.on('error', () => {}); // idle clients die with a killed Postgres; the next query reconnects
    stops.push(() => sql.end());

    const apiPort = await findFreePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(apiPort),
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      ADMIN_API_TOKEN: ADMIN_TOKEN,
      BOOKINGS_RATE_LIMIT_PER_MINUTE: '1000000',
      WHATSAPP_API_URL: graphUrl,
      WHATSAPP_ACCESS_TOKEN: GRAPH_ACCESS_TOKEN,
      WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
      WHATSAPP_APP_SECRET: APP_SECRET,
      WHATSAPP_VERIFY_TOKEN: 'bench-verify-token',
      TEMPORAL_PAYLOAD_KEYS: payloadKeys,
      ...o.env,
    };
    const role = (name: 'api' | 'worker', ready: (child: Child) => Promise<unknown>): Role => {
      let child: Child | undefined;
      return {
        async start() {
          const c = spawnGroup(name, 'npm', ['run', '--silent', name], env, path.join(dir, `${name}.log`));
          child = c;
          const died = c.exited.then((code) => {
            throw new Error(`${name} exited (${code}) while starting; see ${path.join(dir, `${name}.log`)}:\n${tail(path.join(dir, `${name}.log`))}`);
          });
          await Promise.race([ready(c), died]);
          died.catch(() => {});
          log(`${name} ready (pgid ${c.pgid})`);
        },
        async kill() {
          await child?.kill('SIGKILL');
          child = undefined;
        },
        async stop() {
          await child?.stop();
          child = undefined;
        },
        rssMiB: () => child?.rssMiB() ?? 0,
        running: () => Boolean(child && child.pids().length),
      };
    };
    const api = role('api', () =>
      until('the API to answer /health', async () => ((await fetch(`${apiUrl}/health`).catch(() => undefined))?.ok ? true : undefined), 120_000, 100),
    );
    const worker = role('worker', (c) => until('the worker to poll', () => pollingFrom(client, c), 180_000, 200));
    stops.push(() => api.stop());
    stops.push(() => worker.stop());
    // Together, as a deployment starts them: both migrate, under migrateLatest's advisory lock.
    await Promise.all([api.start(), worker.start()]);

    const webhook = webhookSender(`${apiUrl}/api/whatsapp/webhook`, APP_SECRET);
    stops.push(() => webhook.close());
    if (o.statusWebhooks) graph.sendStatusesTo(`${apiUrl}/api/whatsapp/webhook`, APP_SECRET);

    const admin = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${apiUrl}${p}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    };

    return { dir, databaseUrl, temporalAddress, apiUrl, graph, pg, temporal, api, worker, client, plainClient, sql, webhook, admin, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Resolves true once a poller from one of the child's processes is on the workflow task queue (identity is pid@host). */
async function pollingFrom(client: Client, child: Child): Promise<true | undefined> {
  const pids = new Set(child.pids().map(String));
  const res = await client.workflowService
    .describeTaskQueue({ namespace: NAMESPACE, taskQueue: { name: TASK_QUEUE }, taskQueueType: TASK_QUEUE_TYPE_WORKFLOW })
    .catch(() => undefined);
  return res?.pollers?.some((p) => pids.has(String(p.identity ?? '').split('@')[0])) ? true : undefined;
}

function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function killPid(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

function alive(pid: number): boolean {
  try {
    const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { stopLeftover, stopWithThisProcess } from '../runtime/leftovers';
import { onUnhandledSignal, SHUTDOWN_SIGNALS } from '../runtime/signals';
import { SEARCH_ATTRIBUTES } from './searchAttributes';

export interface DevServerOptions {
  /** The Temporal CLI, from provisionTemporalCli(). */
  cliPath: string;
  /** SQLite file that keeps workflows across restarts; in-memory without it. */
  dbFile?: string;
  port: number;
  /** Web UI port; the CLI's default is port + 1000. Ignored when headless. */
  uiPort?: number;
  headless?: boolean;
  namespace: string;
  /** Codec server the web UI decodes payloads with (`--ui-codec-endpoint`), e.g. http://127.0.0.1:3000/codec. */
  uiCodecEndpoint?: string;
  /**
   * Where the server's pid is kept while it runs. A server an earlier, killed run left behind
   * (same pid file, same dbFile) is stopped before this one starts. Needs dbFile.
   */
  pidFile?: string;
  /**
   * The file the server writes its output to (truncated at each start) instead of a pipe to us.
   * A server meant to outlive a killed parent needs it: Go exits on a write to a broken
   * stdout/stderr pipe, so a piped server would die at its next log line. `log` then gets only our own lines.
   */
  logFile?: string;
  log?: (line: string) => void;
  /** The lines an operator should see even when `log` is quiet (a leftover server stopped); `log` by default. */
  announce?: (line: string) => void;
}

export interface DevServerHandle {
  /** host:port for Connection / NativeConnection. */
  address: string;
  uiUrl?: string;
  /** Stops the server and resolves once its process group has exited. Safe to call twice. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const OUTPUT_TAIL_LINES = 30;
/** The first start on a new SQLite file is the slowest. */
const READY_TIMEOUT_MS = 60_000;

/** Runs `temporal server start-dev` and resolves once its frontend serves the namespace. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServerHandle> {
  const log = opts.log ?? (() => {});
  const address = `${HOST}:${opts.port}`;
  const args = ['server', 'start-dev', '--ip', HOST, '--port', String(opts.port)];
  if (opts.headless) args.push('--headless');
  else if (opts.uiPort !== undefined) args.push('--ui-port', String(opts.uiPort));
  if (opts.uiCodecEndpoint && !opts.headless) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  args.push('--namespace', opts.namespace);
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(path.resolve(opts.dbFile)), { recursive: true });
    args.push('--db-filename', path.resolve(opts.dbFile));
  }
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  // Air-gapped machines: the version check would only time out against temporal.io.
  args.push('--dynamic-config-value', 'frontend.enableServerVersionCheck=false', '--log-level', 'warn');
  // Eager activity dispatch: the activity a workflow task schedules comes back in that task's
  // completion instead of through the matching service. Measured on this server: the step
  // from one activity to the next drops from ~100 ms to ~10 ms (README: "Latency").
  args.push('--dynamic-config-value', 'system.enableActivityEagerExecution=true');

  if (opts.pidFile && opts.dbFile) {
    const dbFile = path.resolve(opts.dbFile);
    await stopLeftover({
      pidFile: opts.pidFile,
      what: 'Temporal dev server',
      isOurs: (argv) => argv.includes('start-dev') && argv.includes(dbFile),
      signal: 'SIGTERM',
      group: true,
      log: opts.announce ?? log,
    });
  }
  await assertPortFree(opts.port);
  const started = Date.now();
  // Own process group: if the CLI is a shim or wrapper script, stop() still reaches the real server.
  const output = opts.logFile ? fs.openSync(opts.logFile, 'w') : 'pipe';
  const child = spawn(opts.cliPath, args, { detached: true, stdio: ['ignore', output, output] });
  if (typeof output === 'number') fs.closeSync(output);
  const tail: string[] = [];
  let stopping = false;
  const collect = (stream: NodeJS.ReadableStream) => {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        tail.push(line);
        if (tail.length > OUTPUT_TAIL_LINES) tail.shift();
        // Shutdown always logs a burst of poller warnings; they say nothing useful.
        if (!stopping) log(`[temporal] ${line}`);
      }
    });
  };
  if (child.stdout) collect(child.stdout);
  if (child.stderr) collect(child.stderr);
  const lastOutput = () =>
    opts.logFile ? fs.readFileSync(opts.logFile, 'utf8').split('\n').filter(Boolean).slice(-OUTPUT_TAIL_LINES) : tail;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await once(child, 'spawn').catch((err: Error) => {
    throw new Error(`Cannot run the Temporal CLI ${opts.cliPath}: ${err.message}`);
  });
  track(child);
  const cancelWatchdog = stopWithThisProcess(child.pid!, 'SIGTERM', { group: true });
  if (opts.pidFile) fs.writeFileSync(opts.pidFile, `${child.pid}\n`);

  const stop = async () => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    // The group may outlive its leader (a shim's child): make sure nothing is left.
    killGroup(child, 'SIGKILL');
    untrack(child);
    cancelWatchdog();
    if (opts.pidFile) fs.rmSync(opts.pidFile, { force: true });
  };

  try {
    await waitUntilServing(address, opts.namespace, READY_TIMEOUT_MS, exited, lastOutput);
  } catch (err) {
    await stop();
    throw err;
  }
  const uiPort = opts.headless ? undefined : (opts.uiPort ?? opts.port + 1000);
  log(`[temporal] dev server ready at ${address} in ${Date.now() - started} ms${opts.dbFile ? ` (db ${opts.dbFile})` : ''}`);
  return {
    address,
    uiUrl: uiPort === undefined ? undefined : `http://${HOST}:${uiPort}`,
    stop,
  };
}

async function waitUntilServing(
  address: string,
  namespace: string,
  timeoutMs: number,
  exited: Promise<void>,
  tail: () => string[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  let lastError: unknown;
  const failure = (reason: string) =>
    new Error(
      `Temporal dev server at ${address} ${reason}.${lastError ? ` Last error: ${(lastError as Error).message}.` : ''}\n` +
        `Its last output:\n${tail().map((l) => `  ${l}`).join('\n') || '  (none)'}`,
    );
  while (!gone && Date.now() < deadline) {
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1000 });
      // A namespace lookup needs the frontend, persistence and the namespace registry: truly up.
      // Bounded, because a port that accepts but never answers would otherwise hang us.
      await connection.withDeadline(Date.now() + 2000, () =>
        connection!.workflowService.describeNamespace({ namespace }),
      );
      if (!gone) return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await connection?.close();
    }
  }
  throw failure(gone ? 'exited during start-up' : `did not answer within ${timeoutMs} ms`);
}

/** Rejects with a clear message up front; the CLI's own bind error is buried in its log. */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`Port ${HOST}:${port} is in use: is another Temporal server running? Choose another port.`)
          : err,
      ),
    );
    probe.listen(port, HOST, () => probe.close(() => resolve()));
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * The server runs in its own process group, so a Ctrl-C on the terminal does not reach it.
 * If nobody else handles the signal (and so nobody will call stop()), kill what we started
 * and then die of the signal as Node would have.
 */
const running = new Set<ChildProcess>();
let hooked = false;

function track(child: ChildProcess): void {
  running.add(child);
  if (hooked) return;
  hooked = true;
  process.on('exit', () => running.forEach((c) => killGroup(c, 'SIGKILL')));
  for (const signal of SHUTDOWN_SIGNALS) {
    const remove = onUnhandledSignal(signal, () => {
      running.forEach((c) => killGroup(c, 'SIGKILL'));
      remove();
      process.kill(process.pid, signal);
    });
  }
}

function untrack(child: ChildProcess): void {
  running.delete(child);
}

/** A port that was free a moment ago, for servers that must be told their port up front. */
export function findFreePort(host = HOST): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { obtainAdminToken } from '../config/adminToken';
import { isRunning, readPidFile, stopWithThisProcess, WATCHDOG_NAME } from '../runtime/leftovers';
import { findFreePort } from '../temporal/devServer';

// `npm start` as a user runs it: the real script, its embedded Postgres and Temporal dev
// server, on ports and a DATA_DIR of its own.
const ROOT = path.resolve(__dirname, '..');
const HEALTHY_WITHIN_MS = 90_000;

let dataDir: string;
let ports: Record<'PORT' | 'EMBEDDED_POSTGRES_PORT' | 'TEMPORAL_PORT' | 'TEMPORAL_UI_PORT', string>;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wa-start-test-')), 'data');
  // mkdtemp makes it 0700; run as root, the embedded Postgres (the postgres user) must enter it.
  fs.chmodSync(path.dirname(dataDir), 0o755);
  const [api, postgres, temporal, ui] = await Promise.all([1, 2, 3, 4].map(() => findFreePort()));
  ports = {
    PORT: String(api),
    EMBEDDED_POSTGRES_PORT: String(postgres),
    TEMPORAL_PORT: String(temporal),
    TEMPORAL_UI_PORT: String(ui),
  };
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  // Whatever a failed test left: the servers the pid files name, by pid.
  const { temporal, postgres } = serverPids();
  for (const target of [temporal && -temporal, postgres]) {
    try {
      if (target) process.kill(target, 'SIGKILL');
    } catch {
      // ESRCH: stopped as it should have been.
    }
  }
  fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
});

interface Stack {
  child: ChildProcess;
  output: () => string;
  exited: Promise<void>;
}

function startStack(extraEnv: NodeJS.ProcessEnv = {}): Stack {
  const env: NodeJS.ProcessEnv = { ...process.env, ...ports, DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...extraEnv };
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'WHATSAPP_ACCESS_TOKEN', 'SANDBOX']) delete env[name];
  if (!extraEnv.ADMIN_API_TOKEN) delete env.ADMIN_API_TOKEN;
  // node itself rather than `npm start`, so the pid we kill is the stack's own process.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => output, exited };
}

async function waitHealthy(stack: Stack, withinMs: number): Promise<void> {
  const started = Date.now();
  let gone = false;
  void stack.exited.then(() => (gone = true));
  while (Date.now() - started < withinMs) {
    if (gone) throw new Error(`npm start exited before it was healthy:\n${stack.output()}`);
    const status = await fetch(`http://127.0.0.1:${ports.PORT}/health`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200 && stack.output().includes('wa-booking is up')) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not healthy within ${withinMs} ms:\n${stack.output()}`);
}

/** The watchdogs a stack started, found by their command line: `sh -c <loop> wa-booking-watchdog <stack pid> ...`. */
/** Watchdogs spawned by `stackPid`; with `target`, only the one guarding that server. */
function watchdogsOf(stackPid: number, target?: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return argv[3] === WATCHDOG_NAME && argv[4] === String(stackPid) && (target === undefined || argv[6] === String(target));
      } catch {
        return false; // gone meanwhile
      }
    });
}

const serverPids = () => ({
  temporal: readPidFile(path.join(dataDir, 'temporal.pid')),
  postgres: readPidFile(path.join(dataDir, 'postgres', 'postmaster.pid')),
});

async function until(condition: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

async function stopCleanly(stack: Stack): Promise<void> {
  const { temporal } = serverPids();
  stack.child.kill('SIGTERM');
  await stack.exited;
  expect(stack.child.exitCode).toBe(0);
  // Nothing left: no pid file, no server, no watchdog.
  expect(fs.existsSync(path.join(dataDir, 'temporal.pid'))).toBe(false);
  expect(isRunning(temporal!)).toBe(false);
  expect(watchdogsOf(stack.child.pid!)).toEqual([]);
}

test('npm start killed with SIGKILL takes its servers down within seconds; the next start on the same ports is healthy', async () => {
  const first = startStack();
  await waitHealthy(first, HEALTHY_WITHIN_MS);
  const file = path.join(dataDir, 'admin-token');
  const token = fs.readFileSync(file, 'utf8').trim();
  // Shown the one time it is generated ...
  expect(first.output()).toContain(`Admin token  ${token}   (generated now, shown once; kept in ${file})`);
  const { temporal, postgres } = serverPids();
  expect(watchdogsOf(first.child.pid!)).toHaveLength(2);

  first.child.kill('SIGKILL');
  await first.exited;
  expect(await until(() => !isRunning(temporal!) && !isRunning(postgres!), 10_000)).toBe(true);

  const second = startStack();
  await waitHealthy(second, 60_000);
  // ... and never again.
  expect(second.output()).toContain(`Admin token  kept in ${file}`);
  expect(second.output()).not.toContain(token);
  await stopCleanly(second);
});

test('when the watchdogs died too, the next start stops the servers left running through their pid files', async () => {
  const configured = 'configured-admin-token-0123456789';
  const first = startStack({ ADMIN_API_TOKEN: configured });
  await waitHealthy(first, 60_000);
  expect(first.output()).toContain('Admin token  from ADMIN_API_TOKEN');
  expect(first.output()).not.toContain(configured);
  const { temporal, postgres } = serverPids();
  // Its output goes to a file: through a pipe to us, Go would exit at its first line after we died.
  expect(fs.existsSync(path.join(dataDir, 'temporal.log'))).toBe(true);

  const watchdogs = watchdogsOf(first.child.pid!);
  expect(watchdogs).toHaveLength(2);
  for (const pid of watchdogs) process.kill(pid, 'SIGKILL');
  first.child.kill('SIGKILL');
  await first.exited;
  // With nobody to stop them, they would hold the ports and the data dir's lock for good.
  expect(await until(() => !isRunning(temporal!) || !isRunning(postgres!), 2_500)).toBe(false);

  const second = startStack();
  await waitHealthy(second, 60_000);
  expect(second.output()).toContain(`stopped the embedded PostgreSQL (pid ${postgres}) that an earlier start left running`);
  expect(second.output()).toContain(`stopped the Temporal dev server (pid ${temporal}) that an earlier start left running`);
  expect(isRunning(temporal!)).toBe(false);
  expect(isRunning(postgres!)).toBe(false);
  await stopCleanly(second);
});

test('a watchdog ends by itself once its server is gone, so it never signals a reused pid', async () => {
  const server = spawn('sleep', ['30'], { stdio: 'ignore' });
  children.push(server);
  const cancel = stopWithThisProcess(server.pid!, 'SIGTERM');
  try {
    // By target: run in band, this process is also jest's globalSetup, whose servers have watchdogs too.
    expect(await until(() => watchdogsOf(process.pid, server.pid).length === 1, 2_000)).toBe(true);
    server.kill('SIGKILL');
    expect(await until(() => watchdogsOf(process.pid, server.pid).length === 0, 3_000)).toBe(true);
  } finally {
    cancel();
  }
});

test('obtainAdminToken tells a generated token from a kept or configured one', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-token-'));
  try {
    const first = obtainAdminToken({ embedded: true, dataDir: dir });
    expect(first).toEqual({ token: expect.any(String), origin: 'generated', file: path.join(dir, 'admin-token') });
    expect(obtainAdminToken({ embedded: true, dataDir: dir })).toEqual({ ...first, origin: 'file' });
    expect(obtainAdminToken({ ADMIN_API_TOKEN: 'x'.repeat(16), embedded: true, dataDir: dir })).toEqual({
      token: 'x'.repeat(16),
      origin: 'env',
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const asRoot = process.getuid?.() === 0;
(asRoot ? test : test.skip)(
  'as root, a DATA_DIR the postgres user cannot enter stops npm start at once with one clear sentence',
  async () => {
    const closed = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-closed-'));
    fs.chmodSync(closed, 0o700);
    try {
      const started = Date.now();
      const stack = startStack({ DATA_DIR: path.join(closed, 'data') });
      await stack.exited;
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(stack.child.exitCode).toBe(1);
      expect(stack.output().trim().split('\n').slice(-2)).toEqual([
        `Running as root, the embedded PostgreSQL runs as the \`postgres\` user, which cannot reach DATA_DIR ` +
          `${path.join(closed, 'data')} because ${closed} (mode 0700) is closed to other users: set DATA_DIR to a ` +
          'directory every user can enter (e.g. /var/lib/wa-booking), run `npm start` as a normal user, or set ' +
          'DATABASE_URL to an external PostgreSQL.',
        expect.stringContaining('stopping'),
      ]);
      // Refused before anything was run in there.
      expect(fs.readdirSync(closed)).toEqual(['data']);
      expect(fs.readdirSync(path.join(closed, 'data'))).toEqual([]);
    } finally {
      fs.rmSync(closed, { recursive: true, force: true });
    }
  },
);
if (!asRoot) console.log('skipped the root-only test: it needs uid 0 to run the embedded Postgres as the postgres user');

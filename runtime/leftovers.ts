import { spawn } from 'node:child_process';
import fs from 'node:fs';

/**
 * Servers that `npm start` runs (the embedded Postgres, the Temporal dev server) outlive it
 * when it is killed with SIGKILL: Node cannot ask Linux to kill a child with its parent
 * (prctl PR_SET_PDEATHSIG). Two defences: a watchdog per server stops it within a second
 * of our death, and, should the watchdog be gone too, the next start finds the server
 * through its pid file and stops it, so its ports and data dir are free again.
 */

/** The watchdog's name in `ps`, and what tells it apart in /proc. */
export const WATCHDOG_NAME = 'wa-booking-watchdog';

/**
 * Starts a watchdog that sends `signal` to the server (its process group with `group`) once
 * this process is gone. It is a detached shell loop, so a Ctrl-C on the terminal or the
 * death of our process group does not take it down first. Returns its cancel function,
 * for when we stop the server ourselves.
 */
export function stopWithThisProcess(pid: number, signal: NodeJS.Signals, opts: { group?: boolean } = {}): () => void {
  // Also ends once the server is gone by other means, so it never signals a reused pid later.
  const script = 'while kill -s 0 "$1" 2>/dev/null; do kill -s 0 -- "$3" 2>/dev/null || exit 0; sleep 1; done; kill -s "$2" -- "$3" 2>/dev/null';
  const target = opts.group ? `-${pid}` : String(pid);
  const watchdog = spawn('/bin/sh', ['-c', script, WATCHDOG_NAME, String(process.pid), signal.replace(/^SIG/, ''), target], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.on('error', () => {}); // no /bin/sh: the pid file is the only defence left
  watchdog.unref();
  return () => {
    if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
  };
}

/**
 * True while the process exists and is not a zombie. An orphaned server that stops is
 * reaped by pid 1 only if pid 1 reaps (a minimal container init may not); a zombie holds no
 * port. A multi-threaded one (the Go CLI) shows its main thread as a zombie while its other
 * threads are still closing its sockets: it is gone once that thread is the last.
 */
export function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // The state follows the command name, which is in parentheses and may itself hold spaces.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const zombie = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
    return !zombie || fs.readdirSync(`/proc/${pid}/task`).length > 1;
  } catch (err) {
    // ENOENT: it went away between the two looks. Anything else: no /proc (not Linux).
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** The command line of a process, or undefined where /proc cannot tell. */
function commandLine(pid: number): string[] | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw ? raw.split('\0').filter(Boolean) : undefined;
  } catch {
    return undefined;
  }
}

/** The first line of a pid file (also the layout of Postgres' postmaster.pid), when it names a pid. */
export function readPidFile(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n')[0].trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export interface Leftover {
  pidFile: string;
  /** For the one line that says what was stopped, e.g. "Temporal dev server". */
  what: string;
  /**
   * Whether this command line is really our server: pids are reused, and a pid file that
   * outlived a reboot may name anybody's process by now.
   */
  isOurs: (argv: string[]) => boolean;
  /** The signal the server shuts down cleanly on; SIGKILL follows after graceMs. */
  signal: NodeJS.Signals;
  /** Signal the whole process group (for servers started detached, as their group's leader). */
  group?: boolean;
  graceMs?: number;
  log: (line: string) => void;
}

/** Stops the server a pid file names if it is ours and still running; true when it did. */
export async function stopLeftover(leftover: Leftover): Promise<boolean> {
  const pid = readPidFile(leftover.pidFile);
  if (pid === undefined || pid === process.pid || !isRunning(pid)) return false;
  const argv = commandLine(pid);
  if (!argv || !leftover.isOurs(argv)) return false;
  const target = leftover.group ? -pid : pid;
  const send = (signal: NodeJS.Signals) => {
    try {
      process.kill(target, signal);
    } catch {
      // ESRCH: gone in the meantime.
    }
  };
  send(leftover.signal);
  const forced = !(await exited(pid, leftover.graceMs ?? 10_000));
  if (forced) {
    send('SIGKILL');
    if (!(await exited(pid, 5_000))) {
      throw new Error(`The ${leftover.what} (pid ${pid}) that an earlier start left running does not stop; stop it by hand.`);
    }
  }
  leftover.log(
    `stopped the ${leftover.what} (pid ${pid}) that an earlier start left running${forced ? ' (it had to be killed)' : ''}`,
  );
  return true;
}

async function exited(pid: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

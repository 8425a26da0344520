import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Child processes in their own process groups (npm → node dist/...), so one kill by the
 * group id reaches the real server and nothing outlives the harness.
 */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

const started = new Set<number>();
process.on('exit', () => started.forEach((pgid) => killGroup(pgid, 'SIGKILL')));

export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

function readProc(pid: string, file: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Process ids whose process group is pgid. */
export function groupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const stat = readProc(pid, 'stat');
    // Field 5 (pgrp) follows the parenthesised command, which may itself contain spaces.
    const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Zombies are dead already; a container's init may never reap them.
    if (fields && fields[0] !== 'Z' && Number(fields[2]) === pgid) pids.push(Number(pid));
  }
  return pids;
}

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readProc(String(pid), 'status') ?? '');
  return m ? Number(m[1]) / 1024 : 0;
}

/** The first process whose command line contains every needle (to find a server another module spawned). */
export function findPid(...needles: string[]): number | undefined {
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const cmd = readProc(pid, 'cmdline')?.split('\0');
    if (cmd && needles.every((n) => cmd.includes(n))) return Number(pid);
  }
  return undefined;
}

export interface Child {
  readonly name: string;
  readonly pgid: number;
  readonly exited: Promise<number | null>;
  /** RSS of the largest process in the group: the node process doing the work, not npm's wrapper. */
  rssMiB(): number;
  pids(): number[];
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnGroup(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Child {
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(command, args, { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const pgid = child.pid!;
  started.add(pgid);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // npm may exit before its children: wait for the whole group.
  const groupGone = async () => {
    await exited;
    while (groupPids(pgid).length) await new Promise((r) => setTimeout(r, 25));
    started.delete(pgid);
  };
  return {
    name,
    pgid,
    exited,
    pids: () => groupPids(pgid),
    rssMiB: () => Math.max(0, ...groupPids(pgid).map(rssMiB)),
    async kill(signal = 'SIGKILL') {
      killGroup(pgid, signal);
      await groupGone();
    },
    async stop(graceMs = 10_000) {
      killGroup(pgid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (groupPids(pgid).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      killGroup(pgid, 'SIGKILL');
      await groupGone();
    },
  };
}

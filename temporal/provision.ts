import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { Env } from '../config';
import { findFreePort } from './devServer';

/**
 * Finds or builds the two Temporal servers without temporal.download, which air-gapped
 * machines cannot reach: the CLI (dev server) from the Go module proxy, the Java
 * time-skipping test server from Maven Central. Both land in WA_BOOKING_CACHE_DIR, so
 * each is built once per machine and survives `git clean` and fresh clones.
 */

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
/** The newest CLI tag whose go.mod has no `replace` directive, so `go install ...@version` works. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEST_SERVER_ARTIFACT = 'io.temporal:temporal-test-server';
export const TEST_SERVER_VERSION = '1.38.0';
/** The test server logs through slf4j; without a binding it prints a warning on every start. */
const SLF4J_VERSION = '1.7.36';
/**
 * sdk-core gives the test server ~5 s to answer. Measured on this 2-core machine, a cold JVM
 * takes ~1 s idle and 1.3-2.9 s with both cores busy; C1-only JIT and the serial GC trim
 * that a little, the class-data archive (writeCdsArchive) halves it. Xshare:auto keeps a
 * stale archive from being fatal.
 */
const JVM_FLAGS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto';
const CDS_ARCHIVE = 'test-server.jsa';

export type ProvisionSettings = Pick<Env, 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH' | 'WA_BOOKING_CACHE_DIR'>;

export interface ProvisionOptions {
  log?: (line: string) => void;
  /** Environment for PATH look-ups and for go/mvn; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Last resort: let the SDK fetch from temporal.download (needs internet). Default true. */
  sdkDownload?: boolean;
}

export type ProvisionSource = 'env' | 'path' | 'cache' | 'go-install' | 'maven' | 'sdk-download';

export interface ProvisionedExecutable {
  path: string;
  source: ProvisionSource;
  ms: number;
}

export class ProvisionError extends Error {
  override name = 'ProvisionError';
}

export const cliCacheDir = (cacheDir: string) => path.join(cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`);
export const testServerCacheDir = (cacheDir: string) => path.join(cacheDir, `temporal-test-server-${TEST_SERVER_VERSION}`);
const sdkDownloadDir = (cacheDir: string) => path.join(cacheDir, 'sdk-download');

export async function provisionTemporalCli(
  settings: ProvisionSettings,
  opts: ProvisionOptions = {},
): Promise<ProvisionedExecutable> {
  const ctx = context('dev server CLI', settings, opts);
  if (settings.TEMPORAL_CLI_PATH) return ctx.explicit('TEMPORAL_CLI_PATH', settings.TEMPORAL_CLI_PATH);

  const onPath = which('temporal', ctx.env);
  if (onPath) return ctx.found('path', onPath, '`temporal` on PATH');

  const dir = cliCacheDir(ctx.cacheDir);
  const built = path.join(dir, 'temporal');
  const cached = () => (isExecutable(built) ? built : findSdkDownload(ctx.cacheDir, 'temporal-sdk-typescript-'));
  const hit = cached();
  if (hit) return ctx.found('cache', hit, 'cached build');

  const missing: string[] = [];
  const go = which('go', ctx.env);
  if (go) {
    try {
      return await ctx.buildOnce({
        source: 'go-install',
        dir,
        cached,
        description: `building ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} with go install (~4 min, once per machine)`,
        build: async (tmp) => {
          await run(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
            cwd: tmp,
            env: { ...ctx.env, GOBIN: tmp },
          });
          return 'temporal';
        },
      });
    } catch (err) {
      missing.push(`go install failed: ${errorText(err)}`);
    }
  } else {
    missing.push('`go` is not on PATH (needed to build the CLI from the Go module proxy)');
  }

  const downloaded = await ctx.sdkDownload(missing, 'dev');
  if (downloaded) return downloaded;

  throw new ProvisionError(
    `Cannot provision the Temporal CLI (dev server):\n${bullets([
      'TEMPORAL_CLI_PATH is not set',
      'no `temporal` on PATH',
      `no cached build at ${built}`,
      ...missing,
    ])}\nInstall Go (then this builds it once, ~4 min), or set TEMPORAL_CLI_PATH to a temporal CLI binary.`,
  );
}

export async function provisionTestServer(
  settings: ProvisionSettings,
  opts: ProvisionOptions = {},
): Promise<ProvisionedExecutable> {
  const ctx = context('test server', settings, opts);
  if (settings.TEMPORAL_TEST_SERVER_PATH) {
    return ctx.explicit('TEMPORAL_TEST_SERVER_PATH', settings.TEMPORAL_TEST_SERVER_PATH);
  }

  const dir = testServerCacheDir(ctx.cacheDir);
  const wrapper = path.join(dir, 'temporal-test-server');
  const cached = () =>
    isExecutable(wrapper) ? wrapper : findSdkDownload(ctx.cacheDir, 'temporal-test-server-sdk-typescript-');
  const hit = cached();
  if (hit) return ctx.found('cache', hit, 'cached copy');

  const missing: string[] = [];
  const java = findJava(ctx.env);
  const mvn = which('mvn', ctx.env);
  if (java && mvn) {
    try {
      return await ctx.buildOnce({
        source: 'maven',
        dir,
        cached,
        description: `resolving ${TEST_SERVER_ARTIFACT}:${TEST_SERVER_VERSION} from Maven Central`,
        build: async (tmp) => {
          fs.writeFileSync(path.join(tmp, 'pom.xml'), testServerPom());
          const goals = ['-q', '-B', 'dependency:copy-dependencies', '-DoutputDirectory=lib', '-DincludeScope=runtime'];
          await run(mvn, goals, { cwd: tmp, env: ctx.env });
          fs.rmSync(path.join(tmp, 'pom.xml'));
          fs.rmSync(path.join(tmp, 'target'), { recursive: true, force: true });
          fs.writeFileSync(path.join(tmp, 'temporal-test-server'), testServerWrapper(), { mode: 0o755 });
          return 'temporal-test-server';
        },
        finish: async (finalDir) => {
          try {
            await ctx.step('writing a class-data-sharing archive for a faster JVM start', () =>
              writeCdsArchive(java, finalDir, ctx.env),
            );
          } catch (err) {
            ctx.say(`no class-data-sharing archive, the JVM starts without it: ${errorText(err)}`);
          }
        },
      });
    } catch (err) {
      missing.push(`Maven resolution failed: ${errorText(err)}`);
    }
  } else {
    const absent = [!java && '`java`', !mvn && '`mvn`'].filter(Boolean).join(' and ');
    missing.push(`${absent} not on PATH (needed to fetch ${TEST_SERVER_ARTIFACT} from Maven Central)`);
  }

  const downloaded = await ctx.sdkDownload(missing, 'time-skipping');
  if (downloaded) return downloaded;

  throw new ProvisionError(
    `Cannot provision the Temporal time-skipping test server:\n${bullets([
      'TEMPORAL_TEST_SERVER_PATH is not set',
      `no cached copy at ${wrapper}`,
      ...missing,
    ])}\nInstall a JDK (11+) and Maven, or set TEMPORAL_TEST_SERVER_PATH to a test server executable.`,
  );
}

function context(what: string, settings: ProvisionSettings, opts: ProvisionOptions) {
  const log = opts.log ?? ((line: string) => console.log(line));
  const env = opts.env ?? process.env;
  const cacheDir = path.resolve(settings.WA_BOOKING_CACHE_DIR);
  const started = Date.now();
  const say = (msg: string) => log(`[temporal] ${what}: ${msg}`);
  const result = (source: ProvisionSource, exe: string): ProvisionedExecutable => ({
    path: exe,
    source,
    ms: Date.now() - started,
  });

  const timedStep = async <T>(description: string, fn: () => Promise<T>): Promise<T> => {
    say(`${description} ...`);
    const t0 = Date.now();
    const value = await fn();
    say(`${description} ... done in ${seconds(Date.now() - t0)}`);
    return value;
  };

  return {
    env,
    cacheDir,
    say,
    step: timedStep,
    explicit(variable: string, value: string): ProvisionedExecutable {
      const exe = path.resolve(value);
      if (!isExecutable(exe)) {
        throw new ProvisionError(`${variable}=${value}: no executable file there. Fix the path or unset ${variable}.`);
      }
      say(`using ${variable} ${exe}`);
      return result('env', exe);
    },
    found(source: ProvisionSource, exe: string, label: string): ProvisionedExecutable {
      say(`using ${label} ${exe} (${seconds(Date.now() - started)})`);
      return result(source, exe);
    },

    /**
     * Builds into a private temp dir, then renames it into place, so a crash never
     * leaves half a build at the cached path. The lock only spares a second process
     * (another jest worker, `npm start` beside `npm test`) a duplicate build; if two
     * builds race anyway, the first rename wins and the other is discarded.
     */
    async buildOnce(step: {
      source: ProvisionSource;
      dir: string;
      cached: () => string | undefined;
      description: string;
      /** Fills the temp dir; returns the executable's name in it. */
      build: (tmpDir: string) => Promise<string>;
      /** Runs on the installed dir, for what must know its final path. */
      finish?: (finalDir: string) => Promise<void>;
    }): Promise<ProvisionedExecutable> {
      fs.mkdirSync(cacheDir, { recursive: true });
      const release = await acquireLock(`${step.dir}.lock`, (pid) =>
        say(`waiting for process ${pid}, which is provisioning it already ...`),
      );
      try {
        const ready = step.cached();
        if (ready) {
          say(`using what another process provisioned: ${ready} (${seconds(Date.now() - started)})`);
          return result('cache', ready);
        }
        const tmp = `${step.dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        fs.mkdirSync(tmp);
        let file: string;
        let won = true;
        try {
          file = await timedStep(step.description, () => step.build(tmp));
          try {
            fs.renameSync(tmp, step.dir);
          } catch (err) {
            if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
            won = false;
          }
        } finally {
          fs.rmSync(tmp, { recursive: true, force: true });
        }
        if (won && step.finish) await step.finish(step.dir);
        const exe = path.join(step.dir, file);
        say(`ready: ${exe} (${seconds(Date.now() - started)})`);
        return result(step.source, exe);
      } finally {
        release();
      }
    },

    /** Lets the SDK fetch the server into our cache by starting (and stopping) one environment. */
    async sdkDownload(missing: string[], server: 'dev' | 'time-skipping'): Promise<ProvisionedExecutable | undefined> {
      if (opts.sdkDownload === false) return undefined;
      const downloadDir = sdkDownloadDir(cacheDir);
      fs.mkdirSync(downloadDir, { recursive: true });
      say(`trying the SDK's own download from temporal.download (needs internet) ...`);
      try {
        const { TestWorkflowEnvironment } = await import('@temporalio/testing');
        const options = { server: { executable: { type: 'cached-download' as const, downloadDir } } };
        const env = await (server === 'dev'
          ? TestWorkflowEnvironment.createLocal(options)
          : TestWorkflowEnvironment.createTimeSkipping(options));
        await env.teardown();
        const exe = findSdkDownload(cacheDir, server === 'dev' ? 'temporal-sdk-typescript-' : 'temporal-test-server-sdk-typescript-');
        if (exe) {
          say(`downloaded ${exe} (${seconds(Date.now() - started)})`);
          return result('sdk-download', exe);
        }
        missing.push(`the SDK download left no executable in ${downloadDir}`);
      } catch (err) {
        missing.push(`the SDK download from temporal.download failed: ${errorText(err)}`);
      }
      return undefined;
    },
  };
}

/**
 * The SDK names its downloads `<prefix><sdk version>`; it expires them after a day in the
 * temp dir, but in our cache dir a copy of any version serves until removed by hand.
 */
function findSdkDownload(cacheDir: string, prefix: string): string | undefined {
  const dir = sdkDownloadDir(cacheDir);
  if (!fs.existsSync(dir)) return undefined;
  return fs
    .readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && !name.endsWith('.downloading'))
    .map((name) => path.join(dir, name))
    .find(isExecutable);
}

function testServerPom(): string {
  const [groupId, artifactId] = TEST_SERVER_ARTIFACT.split(':');
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.wa-booking</groupId>
  <artifactId>temporal-test-server-deps</artifactId>
  <version>0</version>
  <dependencies>
    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${TEST_SERVER_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>${SLF4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;
}

function testServerWrapper(): string {
  return `#!/bin/sh
# ${TEST_SERVER_ARTIFACT}:${TEST_SERVER_VERSION} from Maven Central, provisioned by wa-booking (temporal/provision.ts).
# sdk-core runs this as \`<exe> <port>\` and stops it with SIGKILL: exec, so the signal reaches the JVM.
# The class-data archive only loads for this exact class path (physical, hence pwd -P); else it is skipped quietly.
dir=$(cd "$(dirname "$0")" && pwd -P)
exec "\${JAVA_HOME:+$JAVA_HOME/bin/}java" ${JVM_FLAGS} -XX:SharedArchiveFile="$dir/${CDS_ARCHIVE}" -Xlog:cds=off -Xlog:cds+dynamic=off \\
  -cp "$dir/lib/*" io.temporal.testserver.TestServer "$@"
`;
}

/**
 * A dynamic AppCDS archive of the classes a start-up loads: createTimeSkipping() went from
 * ~0.95 s to ~0.4 s idle, and from 1.3-2.0 s to ~0.8 s with both cores busy, well inside
 * sdk-core's window. The JVM dumps it on exit and it records the class path, so it is
 * written from the final directory.
 */
async function writeCdsArchive(java: string, dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const real = fs.realpathSync(dir);
  const archive = path.join(real, CDS_ARCHIVE);
  const partial = `${archive}.tmp-${process.pid}`;
  const port = await findFreePort();
  const args = [`-XX:ArchiveClassesAtExit=${partial}`, ...JVM_FLAGS.split(' '), '-cp', `${real}/lib/*`];
  const child = spawn(java, [...args, 'io.temporal.testserver.TestServer', String(port)], { env, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const died = exited.then((code) => Promise.reject(new Error(`the test server exited with ${code}`)));
  died.catch(() => {});
  const answers = async () => {
    const connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 1000 });
    try {
      // The calls every test makes first, so their classes are archived too.
      await connection.withDeadline(Date.now() + 5000, async () => {
        await connection.workflowService.getSystemInfo({});
        await connection.workflowService.describeNamespace({ namespace: 'default' });
      });
    } finally {
      await connection.close();
    }
  };
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await Promise.race([answers(), died]);
        break;
      } catch (err) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  if (!fs.existsSync(partial)) throw new Error('the JVM wrote no archive');
  fs.renameSync(partial, archive);
}

async function acquireLock(lockFile: string, onWait: (pid: number) => void): Promise<() => void> {
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
    if (!isAlive(holder)) {
      // Left behind by a killed process; its temp dir never got renamed, so nothing is half-built.
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (!announced) onWait(holder);
    announced = true;
    await new Promise((r) => setTimeout(r, 500));
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The java the wrapper will run: JAVA_HOME's, else the one on PATH. */
function findJava(env: NodeJS.ProcessEnv): string | undefined {
  const fromHome = env.JAVA_HOME && path.join(env.JAVA_HOME, 'bin', 'java');
  return fromHome && isExecutable(fromHome) ? fromHome : which('java', env);
}

export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited with ${signal ?? code}:\n${output.trim()}`));
    });
  });
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const bullets = (lines: string[]) => lines.map((l) => `  - ${l}`).join('\n');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Env } from '../config';

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
 * sdk-core gives the test server ~5 s to answer. A cold JVM needs ~0.7 s idle and ~1.3 s
 * with both cores busy here; C1-only JIT and the serial GC trim start-up a little more.
 */
const JVM_FLAGS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto';

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
      return await ctx.buildOnce(
        'go-install',
        dir,
        cached,
        `building ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} with go install (~4 min, once per machine)`,
        async (tmp) => {
          await run(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
            cwd: tmp,
            env: { ...ctx.env, GOBIN: tmp },
          });
          return 'temporal';
        },
      );
    } catch (err) {
      missing.push(`go install failed: ${errorText(err)}`);
    }
  } else {
    missing.push('`go` is not on PATH (needed to build the CLI from the Go module proxy)');
  }

  const downloaded = await ctx.sdkDownload(missing, async (downloadDir) => {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    await (
      await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'cached-download', downloadDir } } })
    ).teardown();
    return findSdkDownload(ctx.cacheDir, 'temporal-sdk-typescript-');
  });
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
  const java = which('java', ctx.env);
  const mvn = which('mvn', ctx.env);
  if (java && mvn) {
    try {
      return await ctx.buildOnce(
        'maven',
        dir,
        cached,
        `resolving ${TEST_SERVER_ARTIFACT}:${TEST_SERVER_VERSION} from Maven Central`,
        async (tmp) => {
        fs.writeFileSync(path.join(tmp, 'pom.xml'), testServerPom());
        await run(mvn, ['-q', '-B', 'dependency:copy-dependencies', '-DoutputDirectory=lib', '-DincludeScope=runtime'], {
          cwd: tmp,
          env: ctx.env,
        });
        fs.rmSync(path.join(tmp, 'pom.xml'));
        fs.rmSync(path.join(tmp, 'target'), { recursive: true, force: true });
        fs.writeFileSync(path.join(tmp, 'temporal-test-server'), testServerWrapper(), { mode: 0o755 });
        return 'temporal-test-server';
        },
      );
    } catch (err) {
      missing.push(`Maven resolution failed: ${errorText(err)}`);
    }
  } else {
    const absent = [!java && '`java`', !mvn && '`mvn`'].filter(Boolean).join(' and ');
    missing.push(`${absent} not on PATH (needed to fetch ${TEST_SERVER_ARTIFACT} from Maven Central)`);
  }

  const downloaded = await ctx.sdkDownload(missing, async (downloadDir) => {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    await (
      await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'cached-download', downloadDir } } })
    ).teardown();
    return findSdkDownload(ctx.cacheDir, 'temporal-test-server-sdk-typescript-');
  });
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

  return {
    env,
    cacheDir,
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
    async buildOnce(
      source: ProvisionSource,
      finalDir: string,
      cached: () => string | undefined,
      description: string,
      build: (tmpDir: string) => Promise<string>,
    ): Promise<ProvisionedExecutable> {
      fs.mkdirSync(cacheDir, { recursive: true });
      const release = await acquireLock(`${finalDir}.lock`, (pid) =>
        say(`waiting for process ${pid}, which is provisioning it already ...`),
      );
      try {
        const ready = cached();
        if (ready) {
          say(`using what another process provisioned: ${ready} (${seconds(Date.now() - started)})`);
          return result('cache', ready);
        }
        const tmp = `${finalDir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        fs.mkdirSync(tmp);
        try {
          say(`${description} ...`);
          const buildStart = Date.now();
          const file = await build(tmp);
          try {
            fs.renameSync(tmp, finalDir);
          } catch (err) {
            if (!['EEXIST', 'ENOTEMPTY'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
          }
          const exe = path.join(finalDir, file);
          say(`${description} ... done in ${seconds(Date.now() - buildStart)} -> ${exe}`);
          return result(source, exe);
        } finally {
          fs.rmSync(tmp, { recursive: true, force: true });
        }
      } finally {
        release();
      }
    },

    async sdkDownload(
      missing: string[],
      download: (downloadDir: string) => Promise<string | undefined>,
    ): Promise<ProvisionedExecutable | undefined> {
      if (opts.sdkDownload === false) return undefined;
      const downloadDir = sdkDownloadDir(cacheDir);
      fs.mkdirSync(downloadDir, { recursive: true });
      say(`trying the SDK's own download from temporal.download (needs internet) ...`);
      try {
        const exe = await download(downloadDir);
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
dir=$(cd "$(dirname "$0")" && pwd)
exec "\${JAVA_HOME:+$JAVA_HOME/bin/}java" ${JVM_FLAGS} -cp "$dir/lib/*" io.temporal.testserver.TestServer "$@"
`;
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

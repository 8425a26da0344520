/**
 * Finds or builds the two Temporal servers without temporal.download, which air-gapped
 * machines cannot reach: the CLI (dev server) from the Go module proxy, the Java
 * time-skipping test server from Maven Central. Both land in WA_BOOKING_CACHE_DIR, so
 * each is built once per machine and survives `git clean` and fresh clones. This file is
 * the order of preference; provision/ holds the build steps, the lock, and the test server's files.
 */

import fs from 'node:fs';
import path from 'node:path';
import { findSdkDownload, provisioner } from './provision/build';
import {
  bullets,
  errorText,
  isExecutable,
  ProvisionError,
  run,
  which,
  type ProvisionedExecutable,
  type ProvisionOptions,
  type ProvisionSettings,
} from './provision/common';
import {
  TEST_SERVER_ARTIFACT,
  TEST_SERVER_VERSION,
  findJava,
  testServerPom,
  testServerWrapper,
  writeCdsArchive,
} from './provision/testServer';

export { ProvisionError, TEST_SERVER_ARTIFACT, TEST_SERVER_VERSION };
export type { ProvisionedExecutable, ProvisionOptions, ProvisionSettings, ProvisionSource } from './provision/common';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
/** The newest CLI tag whose go.mod has no `replace` directive, so `go install ...@version` works. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const cliCacheDir = (cacheDir: string) => path.join(cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`);
export const testServerCacheDir = (cacheDir: string) => path.join(cacheDir, `temporal-test-server-${TEST_SERVER_VERSION}`);

export async function provisionTemporalCli(
  settings: ProvisionSettings,
  opts: ProvisionOptions = {},
): Promise<ProvisionedExecutable> {
  const ctx = provisioner('dev server CLI', settings, opts);
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
  const ctx = provisioner('test server', settings, opts);
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


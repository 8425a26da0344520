import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  errorText,
  isExecutable,
  ProvisionError,
  seconds,
  type ProvisionedExecutable,
  type ProvisionOptions,
  type ProvisionSettings,
  type ProvisionSource,
} from './common';
import { acquireLock } from './lock';

const sdkDownloadDir = (cacheDir: string) => path.join(cacheDir, 'sdk-download');

/** The steps provisioning one server is made of, each printed with its time. */
export function provisioner(what: string, settings: ProvisionSettings, opts: ProvisionOptions) {
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
export function findSdkDownload(cacheDir: string, prefix: string): string | undefined {
  const dir = sdkDownloadDir(cacheDir);
  if (!fs.existsSync(dir)) return undefined;
  return fs
    .readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && !name.endsWith('.downloading'))
    .map((name) => path.join(dir, name))
    .find(isExecutable);
}


import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Env } from '../../config';

/** What every provisioning step shares: settings, options, results and the few fs/process helpers. */

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

export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<void> {
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

export const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
export const bullets = (lines: string[]) => lines.map((l) => `  - ${l}`).join('\n');
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

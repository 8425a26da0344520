import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Debian's chromium: playwright's own browser builds cannot be downloaded here. */
export const CHROMIUM = '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`))));
  });
}

/**
 * Installs chromium with apt-get when it is missing (CI runs as root, with no stdin). The
 * emoji font is there because the messages the screenshots show use emoji.
 */
export async function ensureChromium(log: (line: string) => void = console.log): Promise<void> {
  if (fs.existsSync(CHROMIUM)) return;
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing; install it with: sudo apt-get install chromium`);
  const started = Date.now();
  log(`[browser] ${CHROMIUM} is missing: installing Debian's chromium ...`);
  await run('apt-get', ['update', '-q']);
  await run('apt-get', ['install', '-y', '-q', 'chromium', 'fonts-noto-color-emoji']);
  log(`[browser] chromium installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless chromium with a new, empty profile, removed again by close(). */
export async function launchBrowser(viewport = { width: 1600, height: 1100 }): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-booking-chromium-'));
  const removeProfile = () => fs.rmSync(profile, { recursive: true, force: true });
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport }).catch((err) => {
    removeProfile();
    throw err;
  });
  return {
    context,
    async close() {
      await context.close();
      removeProfile();
    },
  };
}

/**
 * `npm run build`: the production build in dist/, run with `node dist/api/main.js` and
 * `node dist/worker/main.js` (no TypeScript at run time).
 *
 * 1. tsc (tsconfig.build.json) compiles the processes to CommonJS, locales included;
 * 2. the static pages are copied with the layout of the source tree, so the routes find them
 *    relative to their own file from source and from dist alike;
 * 3. the booking workflows are bundled once, into dist/workflow-bundle.js, which the worker
 *    loads instead of bundling at every start (worker/worker.ts).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { PREBUILT_BUNDLE_FILE } from '../worker/bundle';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
/** Directories served as files by the API (express.static); a new one belongs here. */
const ASSET_DIRS = ['sandbox/page', 'console/page'];

async function main() {
  const started = Date.now();
  const step = (what: string) => console.log(`[build +${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

  fs.rmSync(DIST, { recursive: true, force: true });
  step('compiling (tsc -p tsconfig.build.json)');
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error(`tsc failed (exit ${tsc.status})`);

  for (const dir of ASSET_DIRS) fs.cpSync(path.join(ROOT, dir), path.join(DIST, dir), { recursive: true });
  step(`copied ${ASSET_DIRS.join(', ')}`);

  // From the compiled JavaScript, with the failure converter every worker's data converter names.
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(DIST, 'workflows'),
    failureConverterPath: path.join(DIST, 'temporal', 'failureConverter.js'),
    logger: new DefaultLogger('WARN'),
  });
  fs.writeFileSync(path.join(DIST, PREBUILT_BUNDLE_FILE), code);
  step(`bundled the workflows into dist/${PREBUILT_BUNDLE_FILE} (${Math.round(code.length / 1024)} KiB); done`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundle, type WorkflowBundlePath } from '@temporalio/worker';

/** What the bundle needs from the worker's data converter: converters that run in the sandbox. */
type BundleInput = Pick<DataConverter, 'failureConverterPath' | 'payloadConverterPath'>;

/** The bundle `npm run build` writes into dist/ (scripts/build.ts). */
export const PREBUILT_BUNDLE_FILE = 'workflow-bundle.js';

/**
 * The build's bundle, when this code runs from dist/: loading it takes a fraction of a second
 * where bundling takes several. From source the path is <repo>/workflow-bundle.js, which
 * nothing writes, so a source run never picks up a bundle older than its code.
 */
export function prebuiltWorkflowBundle(): WorkflowBundlePath | undefined {
  const codePath = path.join(__dirname, '..', PREBUILT_BUNDLE_FILE);
  return fs.existsSync(codePath) ? { codePath } : undefined;
}

/**
 * Bundles the booking workflows in a short-lived child process. Webpack's run grows the heap
 * by ~120 MiB that V8 keeps for the life of the process; in a child it leaves with it, and
 * the worker only holds the code.
 */
export function bundleWorkflowsInChild(converters: BundleInput): Promise<WorkflowBundle> {
  return new Promise((resolve, reject) => {
    // From source, tsx's loader, whatever runs the parent (tsx, jest): the child is this TypeScript file.
    const execArgv = __filename.endsWith('.ts') ? ['--import', pathToFileURL(require.resolve('tsx')).href] : [];
    const child = fork(__filename, [JSON.stringify(converters)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let code: string | undefined;
    child.once('message', (message) => (code = message as string));
    child.once('error', reject);
    child.once('exit', (exitCode) =>
      code !== undefined ? resolve({ code }) : reject(new Error(`bundling the workflows failed (child exited with ${exitCode})`)),
    );
  });
}

async function bundleAndSend(): Promise<void> {
  const converters = JSON.parse(process.argv[2]) as BundleInput;
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    ...converters,
    logger: new DefaultLogger('WARN'),
  });
  process.send!(code, () => process.disconnect());
}

if (require.main === module && process.send) {
  bundleAndSend().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

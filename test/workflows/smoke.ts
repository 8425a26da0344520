import { ApplicationFailure, sleep, workflowInfo } from '@temporalio/workflow';

export async function greet(name: string): Promise<string> {
  return `hello ${name} from ${workflowInfo().taskQueue}`;
}

/** Returns the workflow time that passed, in ms: on the time-skipping server a day passes in moments. */
export async function sleepFor(duration: Parameters<typeof sleep>[0]): Promise<number> {
  const before = Date.now();
  await sleep(duration);
  return Date.now() - before;
}

/** Fails with the given message, as a workflow whose error quotes a guest would. */
export async function failWith(message: string): Promise<never> {
  throw ApplicationFailure.nonRetryable(message, 'SmokeFailure');
}

export default async function globalTeardown(): Promise<void> {
  const steps = ((globalThis as Record<string, unknown>).__waTestTeardown ?? []) as (() => Promise<void>)[];
  for (const step of steps.reverse()) await step();
}

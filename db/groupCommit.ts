export interface GroupCommitOptions {
  /** Writes under way at once; items arriving while all are busy wait and go together in the next. */
  maxInFlight?: number;
  /** Items per write at most. */
  maxBatch?: number;
  /**
   * Whether a failed write of several items is worth trying again item by item: a value the
   * database refuses must fail only its own caller, not everyone who arrived in the same
   * moment (and who, retried together, would fail together again). Not for an outage.
   */
  splitOnFailure?: (err: unknown) => boolean;
}

/**
 * Group commit: a write starts at once while there is a free slot, and whatever arrives while
 * every slot is busy is written together by the next one: one statement and one commit for
 * a moment's items, however many callers they came from. An idle system pays no delay; a
 * busy one pays one round trip per moment instead of one per item. Each caller's promise
 * settles with the write that carried its item.
 */
export function groupCommit<T>(write: (items: T[]) => Promise<void>, o: GroupCommitOptions = {}): (item: T) => Promise<void> {
  const maxInFlight = o.maxInFlight ?? 1;
  const maxBatch = o.maxBatch ?? 500;
  let waiting: { item: T; done: () => void; failed: (err: unknown) => void }[] = [];
  let inFlight = 0;

  async function flush(): Promise<void> {
    inFlight++;
    while (waiting.length) {
      const batch = waiting.slice(0, maxBatch);
      waiting = waiting.slice(batch.length);
      try {
        await write(batch.map((w) => w.item));
        for (const w of batch) w.done();
      } catch (err) {
        if (batch.length > 1 && o.splitOnFailure?.(err)) {
          await Promise.all(batch.map((w) => write([w.item]).then(w.done, w.failed)));
        } else {
          for (const w of batch) w.failed(err);
        }
      }
    }
    inFlight--;
  }

  return (item) =>
    new Promise<void>((done, failed) => {
      waiting.push({ item, done, failed });
      if (inFlight < maxInFlight) void flush();
    });
}

import { groupCommit } from '../db/groupCommit';

/** A write that takes a tick, notes each batch it got, and refuses any batch holding 'bad'. */
function recordingWrite() {
  const batches: string[][] = [];
  const write = async (items: string[]) => {
    batches.push(items);
    await new Promise((r) => setTimeout(r, 5));
    if (items.includes('bad')) throw new Error('refused: bad');
  };
  return { batches, write };
}

describe('groupCommit', () => {
  it('writes a lone item at once, alone', async () => {
    const { batches, write } = recordingWrite();
    await groupCommit(write)('a');
    expect(batches).toEqual([['a']]);
  });

  it('writes what arrives during a write together in the next one', async () => {
    const { batches, write } = recordingWrite();
    const add = groupCommit(write, { maxInFlight: 1 });
    await Promise.all(['a', 'b', 'c', 'd'].map(add));
    expect(batches).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('keeps several writes under way and caps a batch', async () => {
    const { batches, write } = recordingWrite();
    const add = groupCommit(write, { maxInFlight: 2, maxBatch: 2 });
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map(add));
    expect(batches).toEqual([['a'], ['b'], ['c', 'd'], ['e']]);
  });

  it('retries a refused batch item by item, so only the bad item fails', async () => {
    const { batches, write } = recordingWrite();
    const add = groupCommit(write, { maxInFlight: 1, splitOnFailure: () => true });
    const results = await Promise.allSettled(['a', 'b', 'bad', 'c'].map(add));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(batches).toEqual([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
  });

  it('fails the whole batch at once when the failure is not worth splitting (an outage)', async () => {
    const { batches, write } = recordingWrite();
    const add = groupCommit(write, { maxInFlight: 1, splitOnFailure: () => false });
    const results = await Promise.allSettled(['a', 'b', 'bad'].map(add));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(batches).toEqual([['a'], ['b', 'bad']]);
  });
});

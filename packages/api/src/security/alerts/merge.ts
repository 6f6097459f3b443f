type Settled<T> = { i: number; r: IteratorResult<T> } | { i: number; err: unknown };

const isAbort = (err: unknown) => err instanceof Error && err.name === 'AbortError';

/**
 * Interleaves async generators as their items arrive; ends when all end or the signal aborts.
 * Every pending next() is settled into a value, so a stream rejecting with the abort after the
 * merge stopped waiting for it is never an unhandled rejection.
 */
export async function* mergeStreams<T>(streams: AsyncGenerator<T>[], signal: AbortSignal | undefined): AsyncGenerator<T> {
  const pending = new Map<number, Promise<Settled<T>>>();
  const next = (i: number) =>
    pending.set(
      i,
      streams[i]!.next().then(
        (r) => ({ i, r }),
        (err: unknown) => ({ i, err }),
      ),
    );
  streams.forEach((_, i) => next(i));
  try {
    while (pending.size > 0 && !signal?.aborted) {
      const settled = await Promise.race(pending.values());
      if ('err' in settled) {
        // An aborted stream has ended; any other failure ends the merge as it would one stream.
        pending.delete(settled.i);
        if (isAbort(settled.err)) continue;
        throw settled.err;
      }
      if (settled.r.done) pending.delete(settled.i);
      else {
        next(settled.i);
        yield settled.r.value;
      }
    }
  } finally {
    await Promise.allSettled(streams.map((s) => s.return(undefined)));
  }
}

/** Interleaves async generators as their items arrive; ends when all end or the signal aborts. */
export async function* mergeStreams<T>(streams: AsyncGenerator<T>[], signal: AbortSignal | undefined): AsyncGenerator<T> {
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<T> }>>();
  const next = (i: number) => pending.set(i, streams[i]!.next().then((r) => ({ i, r })));
  streams.forEach((_, i) => next(i));
  try {
    while (pending.size > 0 && !signal?.aborted) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) pending.delete(i);
      else {
        next(i);
        yield r.value;
      }
    }
  } finally {
    await Promise.allSettled(streams.map((s) => s.return(undefined)));
  }
}

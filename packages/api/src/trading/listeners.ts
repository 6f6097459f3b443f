/** A synchronous listener list, shared by the market (prints) and the broker (events). */
export interface Listeners<T> {
  add(listener: (value: T) => void): () => void;
  emit(value: T): void;
  readonly size: number;
}

export function createListeners<T>(): Listeners<T> {
  const set = new Set<(value: T) => void>();
  return {
    add(listener) {
      // A wrapper per subscription, so the same function subscribed twice is two subscriptions.
      const entry = (value: T) => listener(value);
      set.add(entry);
      return () => void set.delete(entry);
    },
    emit(value) {
      // Iterate a copy: a listener may unsubscribe itself or others while we notify.
      const errors: unknown[] = [];
      for (const listener of [...set]) {
        if (!set.has(listener)) continue;
        try {
          listener(value);
        } catch (error) {
          errors.push(error);
        }
      }
      // One failing listener must not starve the others, but its error must not vanish either.
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, `${errors.length} listeners failed`);
    },
    get size() {
      return set.size;
    },
  };
}

import { EventEmitter, on } from 'node:events';
import type { EventBus } from '@tapevision/db';

/**
 * Turns a bus channel into an async iterable bound to a request's signal. The listener is
 * attached before the first `next()`, and removed when the client goes away.
 */
export async function* busEvents<T>(
  bus: EventBus,
  channel: string,
  accept: (payload: unknown) => payload is T,
  signal: AbortSignal | undefined,
): AsyncGenerator<T> {
  const local = new EventEmitter();
  const unsubscribe = await bus.subscribe(channel, (payload) => {
    if (accept(payload)) local.emit('event', payload);
  });
  try {
    for await (const [event] of on(local, 'event', signal ? { signal } : {})) {
      yield event as T;
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    unsubscribe();
  }
}

/** A bus notice carrying only a new row's id (engine and trading events): trusted as far as its shape. */
export function isIdNotice(payload: unknown): payload is { id: string } {
  return typeof payload === 'object' && payload !== null && typeof (payload as { id?: unknown }).id === 'string' && /^\d{1,19}$/.test((payload as { id: string }).id);
}

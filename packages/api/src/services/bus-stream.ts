import { EventEmitter, on } from 'node:events';
import { sql } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { EventBus, Queryable } from '@tapevision/db';

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

export interface IdCursorSource<E extends { id: string }> {
  /** Where the notices of new rows arrive (isIdNotice payloads). */
  channel: string;
  /** Up to one page of events with ids above `after`, in id order. */
  eventsAfter(after: bigint): Promise<E[]>;
  /** How many eventsAfter answers at most: a shorter answer means caught up. */
  page: number;
  /** The newest id now: where a stream without lastEventId starts. */
  newestId(): Promise<bigint>;
  /** A notice lost with a dropped LISTEN costs this delay, not an event. */
  pollMs: number;
}

/**
 * Rows with increasing ids (a table of events), on every process, in commit order: after
 * `lastEventId` first, then live as notices arrive. Listens before reading, so nothing falls
 * between the backfill and the live part; polls too, so a lost notice only delays.
 */
export async function* idCursorStream<E extends { id: string }>(
  bus: EventBus,
  source: IdCursorSource<E>,
  input: { lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<E> {
  let wake: (() => void) | null = null;
  let pending = false;
  const poke = () => {
    pending = true;
    wake?.();
  };
  const unsubscribe = await bus.subscribe(source.channel, (payload) => {
    if (isIdNotice(payload)) poke();
  });
  signal?.addEventListener('abort', poke, { once: true });
  const timer = setInterval(poke, source.pollMs);
  timer.unref();
  try {
    let cursor = input.lastEventId ? BigInt(input.lastEventId) : await source.newestId();
    pending = Boolean(input.lastEventId);
    while (!signal?.aborted) {
      if (!pending) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      pending = false;
      if (signal?.aborted) return;
      for (;;) {
        const events = await source.eventsAfter(cursor);
        for (const event of events) {
          if (signal?.aborted) return;
          cursor = BigInt(event.id);
          yield event;
        }
        if (events.length < source.page) break;
      }
    }
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', poke);
    unsubscribe();
  }
}

/** The highest id in an events table now (0 when empty): where a live stream without lastEventId starts. */
export async function newestIdOf(db: Queryable, table: PgTable, id: AnyPgColumn): Promise<bigint> {
  const [row] = await db.select({ max: sql<string | null>`max(${id})::text` }).from(table);
  return row?.max ? BigInt(row.max) : 0n;
}

import { EventEmitter } from 'node:events';
import type { MaybeRow, PendingQuery, Sql } from 'postgres';
import { databaseUnavailableCause } from './availability.ts';

export type BusHandler = (payload: unknown) => void;

/** Publish/subscribe between every server process that shares one database. */
export interface EventBus {
  publish(channel: string, payload: unknown): Promise<void>;
  /**
   * Several messages on one channel, delivered in order, in one round trip. On Postgres they are one
   * transaction's NOTIFYs, which fold identical payloads into one: send distinct messages.
   */
  publishAll(channel: string, payloads: readonly unknown[]): Promise<void>;
  subscribe(channel: string, handler: BusHandler): Promise<() => void>;
  close(): Promise<void>;
}

// PGlite lives inside one process, so in-process delivery reaches every listener there is.
export function createLocalEventBus(): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(channel, payload) {
      const copy: unknown = JSON.parse(JSON.stringify(payload));
      queueMicrotask(() => emitter.emit(channel, copy));
    },
    async publishAll(channel, payloads) {
      for (const payload of payloads) await this.publish(channel, payload);
    },
    async subscribe(channel, handler) {
      emitter.on(channel, handler);
      return () => emitter.off(channel, handler);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

// NOTIFY reaches every LISTENing connection, this process's own included, so there is no local echo.
// A notice announces a change already committed: failing its caller for it would answer 503 for a
// change that took place. Without it, other processes' caches still lapse within their 2 s.
function dropWhenUnavailable(err: unknown): void {
  if (!databaseUnavailableCause(err)) throw err;
}

// `run` sends a publish through the database guard: refused at once while the database is away,
// never queued to go out long after the caller was answered.
export function createPostgresEventBus(client: Sql, run: <T extends readonly MaybeRow[]>(query: PendingQuery<T>) => Promise<T> = (q) => q): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const listening = new Map<string, Promise<{ unlisten(): Promise<void> }>>();
  return {
    async publish(channel, payload) {
      await run(client`select pg_notify(${channel}, ${JSON.stringify(payload)})`).catch(dropWhenUnavailable);
    },
    async publishAll(channel, payloads) {
      if (payloads.length === 0) return;
      if (payloads.length === 1) return this.publish(channel, payloads[0]);
      // One statement: the set function yields the array's elements in order, and NOTIFY keeps it.
      // Sent as text: a parameter Postgres describes as json would be JSON-encoded once more.
      const texts = JSON.stringify(payloads.map((p) => JSON.stringify(p)));
      await run(client`select pg_notify(${channel}, payload) from json_array_elements_text(${texts}::text::json) as payload`).catch(
        dropWhenUnavailable,
      );
    },
    async subscribe(channel, handler) {
      emitter.on(channel, handler);
      if (!listening.has(channel)) {
        listening.set(
          channel,
          client.listen(channel, (raw) => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(raw);
            } catch {
              return;
            }
            emitter.emit(channel, parsed);
          }),
        );
      }
      await listening.get(channel);
      return () => emitter.off(channel, handler);
    },
    async close() {
      emitter.removeAllListeners();
      await Promise.allSettled([...listening.values()].map(async (l) => (await l).unlisten()));
      listening.clear();
    },
  };
}

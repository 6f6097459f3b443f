import { EventEmitter } from 'node:events';
import type { Sql } from 'postgres';

export type BusHandler = (payload: unknown) => void;

/** Publish/subscribe between every server process that shares one database. */
export interface EventBus {
  publish(channel: string, payload: unknown): Promise<void>;
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
export function createPostgresEventBus(client: Sql): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const listening = new Map<string, Promise<{ unlisten(): Promise<void> }>>();
  return {
    async publish(channel, payload) {
      await client.notify(channel, JSON.stringify(payload));
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

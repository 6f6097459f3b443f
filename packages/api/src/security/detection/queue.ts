import type { Logger } from 'pino';

export interface BoundedQueue<T> {
  /** Never blocks: when full the item is dropped (and counted, logged at most every 10 s). */
  push(item: T): boolean;
  /** Takes up to `max` items, oldest first. */
  take(max: number): T[];
  readonly size: number;
  readonly dropped: number;
}

/** The request path's side of detection: an array push, nothing awaited. */
export function createBoundedQueue<T>(capacity: number, logger: Logger, name: string): BoundedQueue<T> {
  let items: T[] = [];
  let dropped = 0;
  let lastLog = 0;
  return {
    push(item) {
      if (items.length >= capacity) {
        dropped += 1;
        const now = Date.now();
        if (now - lastLog > 10_000) {
          lastLog = now;
          logger.warn({ queue: name, capacity, dropped }, 'detection queue full: events dropped');
        }
        return false;
      }
      items.push(item);
      return true;
    },
    take(max) {
      if (items.length <= max) {
        const all = items;
        items = [];
        return all;
      }
      return items.splice(0, max);
    },
    get size() {
      return items.length;
    },
    get dropped() {
      return dropped;
    },
  };
}

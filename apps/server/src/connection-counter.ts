import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Open WebSocket connections per principal, counted across every server process when Redis is there. */
export interface ConnectionCounter {
  /** Registers the connection; resolves with how many the principal now has open, this one included. */
  add(principal: string, connectionId: string): Promise<number>;
  remove(principal: string, connectionId: string): Promise<void>;
  stop(): void;
}

export function createMemoryConnectionCounter(): ConnectionCounter {
  const open = new Map<string, Set<string>>();
  return {
    async add(principal, id) {
      let set = open.get(principal);
      if (!set) open.set(principal, (set = new Set()));
      set.add(id);
      return set.size;
    },
    async remove(principal, id) {
      const set = open.get(principal);
      set?.delete(id);
      if (set?.size === 0) open.delete(principal);
    },
    stop() {},
  };
}

// A process that dies cannot unregister its sockets: entries expire unless renewed by a heartbeat.
const ENTRY_TTL_MS = 90_000;
const HEARTBEAT_MS = 30_000;

/**
 * One sorted set per principal in Redis, scored by expiry. If Redis fails, the per-process count
 * stands in (the same insurance idea as the rate limiter): the cap still holds on each process.
 */
export function createRedisConnectionCounter(redis: Redis, logger: Logger): ConnectionCounter {
  const local = createMemoryConnectionCounter();
  const mine = new Map<string, string>(); // connection id -> principal
  const key = (principal: string) => `tv:ws:conn:${principal}`;

  const heartbeat = setInterval(() => {
    const expires = Date.now() + ENTRY_TTL_MS;
    const pipeline = redis.pipeline();
    for (const [id, principal] of mine) pipeline.zadd(key(principal), expires, id).pexpire(key(principal), ENTRY_TTL_MS);
    pipeline.exec().catch((err: unknown) => logger.warn({ err }, 'WebSocket connection heartbeat failed'));
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    async add(principal, id) {
      mine.set(id, principal);
      const localCount = await local.add(principal, id);
      const now = Date.now();
      try {
        const results = await redis
          .multi()
          .zremrangebyscore(key(principal), 0, now)
          .zadd(key(principal), now + ENTRY_TTL_MS, id)
          .zcard(key(principal))
          .pexpire(key(principal), ENTRY_TTL_MS)
          .exec();
        const count = results?.[2]?.[1];
        return typeof count === 'number' ? Math.max(count, localCount) : localCount;
      } catch (err) {
        logger.warn({ err }, 'Redis unavailable: counting WebSocket connections per process');
        return localCount;
      }
    },
    async remove(principal, id) {
      mine.delete(id);
      await local.remove(principal, id);
      await redis.zrem(key(principal), id).catch(() => undefined);
    },
    stop() {
      clearInterval(heartbeat);
    },
  };
}

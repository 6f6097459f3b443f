import { and, inArray, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import { loginIpThrottles, sessions, type Database, type DatabaseHandle, type EventBus } from '@tapevision/db';
import type { Logger } from 'pino';
import type { SecurityConfig } from '../config.ts';
import type { Clock } from '../deps.ts';
import { createLeaderLoop, type LeaderLoop } from './leader-loop.ts';

// Same family as the other leader keys (…120–122): one process at a time purges.
export const HOUSEKEEPING_LOCK_KEY = 7_401_236_125;

/** Rows deleted per statement, so one purge never holds a table long. */
const BATCH_ROWS = 5_000;

export interface HousekeepingConfig {
  /** How often the leading process purges. */
  intervalMs: number;
  /**
   * How long an ended session (revoked, idle or past its absolute lifetime) and its refresh tokens
   * are kept after it ended: the sessions lists and a replayed token's "session ended" answer
   * read them until then.
   */
  sessionRetentionMs: number;
}

export interface PurgeResult {
  sessions: number;
  ipThrottles: number;
}

/**
 * Deletes what no check reads any more: sessions that ended more than the retention ago (their
 * refresh tokens go with them, by the foreign key's cascade), and per-IP sign-in throttle rows
 * whose window and block are both over (a new failure starts a fresh window either way). Live
 * sessions keep every refresh token, so reuse detection still sees a rotated token replayed. The
 * account lock-out lives on the user's row, which is never purged.
 */
export async function purgeExpiredRows(
  db: Database,
  config: Pick<SecurityConfig, 'ipThrottle'> & Pick<HousekeepingConfig, 'sessionRetentionMs'>,
  now: Date,
): Promise<PurgeResult> {
  const endedBefore = new Date(now.getTime() - config.sessionRetentionMs);
  const ended = or(
    lt(sessions.absoluteExpiresAt, endedBefore),
    lt(sessions.idleExpiresAt, endedBefore),
    and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, endedBefore)),
  );
  const windowOver = new Date(now.getTime() - config.ipThrottle.windowMs);
  const throttleOver = and(lt(loginIpThrottles.windowStart, windowOver), or(isNull(loginIpThrottles.blockedUntil), lt(loginIpThrottles.blockedUntil, now)));

  const result: PurgeResult = { sessions: 0, ipThrottles: 0 };
  for (;;) {
    const batch = db.select({ id: sessions.id }).from(sessions).where(ended).limit(BATCH_ROWS);
    const gone = await db.delete(sessions).where(inArray(sessions.id, batch)).returning({ id: sessions.id });
    result.sessions += gone.length;
    if (gone.length < BATCH_ROWS) break;
  }
  for (;;) {
    const batch = db.select({ ip: loginIpThrottles.ip }).from(loginIpThrottles).where(throttleOver).limit(BATCH_ROWS);
    // Re-checked on the row itself: a failure counted meanwhile keeps its row.
    const gone = await db
      .delete(loginIpThrottles)
      .where(and(inArray(loginIpThrottles.ip, batch), throttleOver ?? sql`true`))
      .returning({ ip: loginIpThrottles.ip });
    result.ipThrottles += gone.length;
    if (gone.length < BATCH_ROWS) break;
  }
  return result;
}

export interface Housekeeping extends LeaderLoop {
  /** Purges at once (tests; the loop does it every intervalMs while leading). */
  runNow(): Promise<PurgeResult>;
}

/** The purge, run by one process at a time (a Postgres advisory lock; with PGlite, the one process). */
export function createHousekeeping(opts: {
  database: Pick<DatabaseHandle, 'tryLock'>;
  db: Database;
  bus: EventBus;
  clock: Clock;
  logger: Pick<Logger, 'info' | 'warn'>;
  security: Pick<SecurityConfig, 'ipThrottle'>;
  config: HousekeepingConfig;
}): Housekeeping {
  const runNow = async () => {
    const result = await purgeExpiredRows(opts.db, { ipThrottle: opts.security.ipThrottle, sessionRetentionMs: opts.config.sessionRetentionMs }, opts.clock.now());
    if (result.sessions > 0 || result.ipThrottles > 0) opts.logger.info(result, 'housekeeping: purged expired rows');
    return result;
  };
  const loop = createLeaderLoop({
    name: 'housekeeping',
    database: opts.database,
    lockKey: HOUSEKEEPING_LOCK_KEY,
    bus: opts.bus,
    channels: [],
    // The leader purges on each tick; a follower tries for the lock as often.
    retryMs: opts.config.intervalMs,
    logger: opts.logger,
    role: {
      lead: () => {},
      tick: async () => {
        await runNow();
      },
      stepDown: async () => {},
    },
  });
  return {
    start: () => loop.start(),
    stop: () => loop.stop(),
    get leading() {
      return loop.leading;
    },
    runNow,
  };
}

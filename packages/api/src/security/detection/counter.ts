import { and, eq, gt, lt, sql } from 'drizzle-orm';
import { detectionEvents, detectionFirings, queryRows, type Database } from '@tapevision/db';
import type { CountEvent } from './events.ts';
import type { DetectionRule } from './rules.ts';

export interface Crossing {
  fired: boolean;
  count: number;
}

/**
 * Adds one (rule, key)'s events to the shared window and says whether this crossing fires. Under
 * a transaction advisory lock per (rule, key), so parallel attackers and other processes count in
 * turn: the one whose event reaches the threshold sees it, none sees one below it twice. The
 * firing row's conditional upsert makes a crossing fire once per window on any process.
 */
export async function countAndClaim(db: Database, events: readonly CountEvent[], rule: DetectionRule, opts: { threshold: number; distinct: boolean; now: Date }): Promise<Crossing> {
  const first = events[0]!;
  const since = new Date(opts.now.getTime() - rule.windowSeconds * 1000);
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`${first.rule}|${first.key}`}::text, 0))`);
    await tx.insert(detectionEvents).values(events.map((e) => ({ rule: e.rule, key: e.key, member: e.member, weight: e.weight, at: e.at })));
    const counted = opts.distinct ? sql`count(distinct ${detectionEvents.member})` : sql`coalesce(sum(${detectionEvents.weight}), 0)`;
    const [row] = await tx
      .select({ count: sql<string>`${counted}` })
      .from(detectionEvents)
      .where(and(eq(detectionEvents.rule, first.rule), eq(detectionEvents.key, first.key), gt(detectionEvents.at, since)));
    const count = Number(row?.count ?? 0);
    if (count < opts.threshold) return { fired: false, count };
    const claimed = await queryRows(tx, sql`
      insert into detection_firings (rule, key, fired_at) values (${first.rule}, ${first.key}, ${opts.now.toISOString()}::timestamptz)
      on conflict (rule, key) do update set fired_at = excluded.fired_at
      where detection_firings.fired_at <= ${since.toISOString()}::timestamptz
      returning rule`);
    return { fired: claimed.length > 0, count };
  });
}

/** Forgets events and firings older than the longest window. */
export async function purgeCounters(db: Database, olderThan: Date): Promise<void> {
  await db.delete(detectionEvents).where(lt(detectionEvents.at, olderThan));
  await db.delete(detectionFirings).where(lt(detectionFirings.firedAt, olderThan));
}

import { sql } from 'drizzle-orm';
import { detectionEvents, queryRows, type Database } from '@tapevision/db';
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
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`${first.rule}|${first.key}`}, 0))`);
    await tx.insert(detectionEvents).values(events.map((e) => ({ rule: e.rule, key: e.key, member: e.member, weight: e.weight, at: e.at })));
    const counted = opts.distinct ? sql`count(distinct ${detectionEvents.member})` : sql`coalesce(sum(${detectionEvents.weight}), 0)`;
    const [row] = await tx
      .select({ count: sql<string>`${counted}` })
      .from(detectionEvents)
      .where(sql`${detectionEvents.rule} = ${first.rule} and ${detectionEvents.key} = ${first.key} and ${detectionEvents.at} > ${since}`);
    const count = Number(row?.count ?? 0);
    if (count < opts.threshold) return { fired: false, count };
    const claimed = await queryRows(tx, sql`
      insert into detection_firings (rule, key, fired_at) values (${first.rule}, ${first.key}, ${opts.now})
      on conflict (rule, key) do update set fired_at = excluded.fired_at
      where detection_firings.fired_at <= ${since}
      returning rule`);
    return { fired: claimed.length > 0, count };
  });
}

/** Forgets events and firings older than the longest window. */
export async function purgeCounters(db: Database, olderThan: Date): Promise<void> {
  await db.execute(sql`delete from detection_events where at < ${olderThan}`);
  await db.execute(sql`delete from detection_firings where fired_at < ${olderThan}`);
}

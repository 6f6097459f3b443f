import { sql } from 'drizzle-orm';
import { queryRows, type Database } from '@tapevision/db';

/**
 * The addresses among `ips` under watch now. A MEDIUM response records its watch as an incident
 * timeline action (key 'markSuspicious:<ip>', outcome requested or done, until): persisted, so
 * every process sees it. A later failed action for the same incident and key ends it.
 */
export async function watchedIps(db: Database, ips: readonly string[], now: Date): Promise<Set<string>> {
  if (ips.length === 0) return new Set();
  const keys = ips.map((ip) => `markSuspicious:${ip}`);
  const rows = await queryRows<{ key: string; outcome: string; until: string | null }>(
    db,
    sql`select distinct on (incident_id, details->>'key') details->>'key' as key, details->>'outcome' as outcome, details->>'until' as until
        from incident_timeline
        where kind = 'action' and details->>'key' in (${sql.join(keys.map((k) => sql`${k}`), sql`, `)}) and details->>'outcome' <> 'skipped'
        order by incident_id, details->>'key', id desc`,
  );
  const watched = new Set<string>();
  for (const r of rows) {
    if ((r.outcome === 'requested' || r.outcome === 'done') && r.until && new Date(r.until) > now) watched.add(r.key.slice('markSuspicious:'.length));
  }
  return watched;
}

import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { auditChains, auditLogs, queryRows, type Database } from '@tapevision/db';
import { createChainCursor, GENESIS_HASH } from './chain.ts';
import { signingKey, type AuditKeyring } from './keys.ts';

// Same key in every process: only one of several starting servers imports.
const LEGACY_IMPORT_LOCK = 7_401_236_117;

interface LegacyRow extends Record<string, unknown> {
  id: string;
  at: string | Date;
  actor_type: string;
  actor_id: string | null;
  action: string;
  outcome: string;
  severity: string;
  resource_type: string | null;
  resource_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: Record<string, unknown> | string;
}

/**
 * Rows written before the log was chained were set aside by migration 0002; this chains them, in
 * time order, into a chain of their own (signed under the audit key) and drops the holding table.
 * Runs once, at start-up.
 */
export async function importLegacyAuditRows(db: Database, keys: AuditKeyring): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${LEGACY_IMPORT_LOCK})`);
    const [present] = await queryRows<{ present: boolean }>(tx, sql`select to_regclass('audit_logs_legacy') is not null as present`);
    if (!present?.present) return 0;
    const legacy = await queryRows<LegacyRow>(tx, sql`select * from audit_logs_legacy order by at, id`);
    const cursor = createChainCursor(`legacy-${randomUUID()}`, signingKey(keys));
    const rows = legacy.map((r) => ({
      id: r.id,
      ...cursor.next({
        at: new Date(r.at).toISOString(),
        actorType: r.actor_type,
        actorId: r.actor_id,
        action: r.action,
        outcome: r.outcome,
        severity: r.severity,
        resourceType: r.resource_type,
        resourceId: r.resource_id,
        ip: r.ip,
        userAgent: r.user_agent,
        requestId: r.request_id,
        details: typeof r.details === 'string' ? (JSON.parse(r.details) as Record<string, unknown>) : r.details,
      }),
    }));
    for (let i = 0; i < rows.length; i += 1_000) {
      await tx.insert(auditLogs).values(rows.slice(i, i + 1_000).map((r) => ({ ...r, at: new Date(r.at) })));
    }
    if (rows.length > 0) {
      const head = cursor.position;
      await tx.insert(auditChains).values({ chainId: cursor.chainId, anchorHash: GENESIS_HASH, headSeq: head.seq, headHash: head.hash });
    }
    await tx.execute(sql`drop table audit_logs_legacy`);
    return rows.length;
  });
}

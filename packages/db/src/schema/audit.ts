import { bigint, index, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/** What an audit row says, before it is chained: the log and the outbox hold the same columns. Fresh builders per table. */
const auditContentColumns = () => ({
  at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
  actorType: text('actor_type').notNull(),
  actorId: text('actor_id'),
  action: text('action').notNull(),
  outcome: text('outcome').notNull(),
  severity: text('severity').notNull(),
  resourceType: text('resource_type'),
  resourceId: text('resource_id'),
  ip: text('ip'),
  userAgent: text('user_agent'),
  requestId: text('request_id'),
  details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
});

/**
 * The audit log. Rows are chained per writer (one writer per server process): `seq` counts up
 * from 1 in each chain and `hash` (HMAC-SHA256 under the audit key `key_id`, kept out of the
 * database) covers the row's content and `prev_hash`, so a changed, deleted or reordered row
 * breaks its chain. Nothing updates or deletes rows except the retention job.
 */
export const auditLogs = pgTable(
  'audit_logs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ...auditContentColumns(),
    chainId: text('chain_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
    /** The AUDIT_KEY entry whose HMAC `hash` is; null for rows chained with plain SHA-256 before the key. */
    keyId: text('key_id'),
  },
  (t) => [
    // Also what makes a retried batch idempotent: a row already written is skipped, never doubled.
    uniqueIndex('audit_logs_chain_seq_idx').on(t.chainId, t.seq),
    // Keyset pagination walks (at, id) newest first (a backward scan of these ascending indexes);
    // each filter has an index leading with it.
    index('audit_logs_at_id_idx').on(t.at, t.id),
    index('audit_logs_action_at_idx').on(t.action, t.at),
    index('audit_logs_actor_at_idx').on(t.actorId, t.at),
    index('audit_logs_ip_at_idx').on(t.ip, t.at),
    index('audit_logs_resource_at_idx').on(t.resourceType, t.resourceId, t.at),
    index('audit_logs_severity_at_idx').on(t.severity, t.at),
    index('audit_logs_outcome_at_idx').on(t.outcome, t.at),
  ],
);

/**
 * One row per chain: where verification starts (the anchor, moved forward by retention) and
 * where it must end (the head, advanced with every batch), so a cut-off tail is caught too.
 */
export const auditChains = pgTable('audit_chains', {
  chainId: text('chain_id').primaryKey(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  anchorSeq: bigint('anchor_seq', { mode: 'number' }).notNull().default(0),
  anchorHash: text('anchor_hash').notNull(),
  headSeq: bigint('head_seq', { mode: 'number' }).notNull().default(0),
  headHash: text('head_hash').notNull(),
  /**
   * Rows up to legacy_seq (whose hash is legacy_hash) were chained with plain SHA-256 before the
   * audit key: the cut-over sealed them. Rows after it must carry a key.
   */
  legacySeq: bigint('legacy_seq', { mode: 'number' }).notNull().default(0),
  legacyHash: text('legacy_hash'),
  /**
   * HMAC under the audit key over the anchor and the legacy seal, set by retention and the cut-over:
   * an anchor moved by anyone else does not verify. Null while the anchor is the genesis.
   */
  keyId: text('key_id'),
  mac: text('mac'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type AuditLog = typeof auditLogs.$inferSelect;
export type NewAuditLog = typeof auditLogs.$inferInsert;
export type AuditChain = typeof auditChains.$inferSelect;

/**
 * Audit rows written inside the transaction of the change they describe, not yet chained: the
 * change and its row commit together, so a crash can lose neither alone. A sealer moves them into
 * `audit_logs` (chaining them there) right after the commit; whatever a killed process left here
 * is sealed by the next one. Same content columns as `audit_logs`; `id` becomes the row's id there.
 */
export const auditOutbox = pgTable('audit_outbox', {
  id: uuid('id').primaryKey(),
  ...auditContentColumns(),
});

export type AuditOutboxRow = typeof auditOutbox.$inferSelect;

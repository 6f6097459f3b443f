import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { incidents } from './incidents.ts';
import { users } from './users.ts';

/**
 * Blocked addresses and ranges. A row is never deleted: removal sets removed_at, so the history of
 * who blocked and unblocked what stays readable beside the audit log. Active means not removed and
 * not past expires_at (null: permanent); every process keeps the active ones in memory.
 */
export const ipBlocks = pgTable(
  'ip_blocks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Normalised: network address and prefix, a single address as /32 or /128, IPv4-mapped IPv6 as IPv4. */
    cidr: text('cidr').notNull(),
    reason: text('reason').notNull(),
    /** 'rule:<detection rule>' for automated blocks, 'user:<id>' for a person's. */
    source: text('source').notNull(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    incidentId: uuid('incident_id').references(() => incidents.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, precision: 3 }),
    removedAt: timestamp('removed_at', { withTimezone: true, precision: 3 }),
    removedBy: uuid('removed_by').references(() => users.id, { onDelete: 'set null' }),
  },
  (t) => [index('ip_blocks_cidr_idx').on(t.cidr, t.removedAt), index('ip_blocks_created_idx').on(t.createdAt)],
);

/** Addresses flagged as suspicious: their rate limits are halved until `until`. One row per address. */
export const ipFlags = pgTable(
  'ip_flags',
  {
    ip: text('ip').primaryKey(),
    reason: text('reason').notNull(),
    incidentId: uuid('incident_id').references(() => incidents.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
    until: timestamp('until', { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [index('ip_flags_until_idx').on(t.until)],
);

export type IpBlock = typeof ipBlocks.$inferSelect;
export type IpFlag = typeof ipFlags.$inferSelect;

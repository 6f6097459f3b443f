import { sql } from 'drizzle-orm';
import { bigserial, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.ts';

/**
 * Emergency lockdowns, engaged and lifted. The row with no lifted_at is the one in force; the
 * partial unique index keeps it to one, whichever process engages. engaged_by is null when the
 * system engaged it (an incident's automated response).
 */
export const lockdowns = pgTable(
  'lockdowns',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    reason: text('reason').notNull(),
    engagedBy: uuid('engaged_by').references(() => users.id, { onDelete: 'set null' }),
    engagedAt: timestamp('engaged_at', { withTimezone: true, precision: 3 }).notNull(),
    /** The incident whose response engaged it, when the system did. */
    incidentId: uuid('incident_id'),
    liftedBy: uuid('lifted_by').references(() => users.id, { onDelete: 'set null' }),
    liftedAt: timestamp('lifted_at', { withTimezone: true, precision: 3 }),
    liftReason: text('lift_reason'),
  },
  (t) => [
    uniqueIndex('lockdowns_one_active_idx').on(sql`(${t.liftedAt} is null)`).where(sql`${t.liftedAt} is null`),
    index('lockdowns_engaged_at_idx').on(t.engagedAt),
  ],
);

/** Every engage and lift in commit order: security.onStatus resumes from these ids. */
export const lockdownEvents = pgTable('lockdown_events', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
  kind: text('kind').$type<'engaged' | 'lifted'>().notNull(),
  lockdownId: uuid('lockdown_id')
    .notNull()
    .references(() => lockdowns.id, { onDelete: 'cascade' }),
});

export type Lockdown = typeof lockdowns.$inferSelect;
export type LockdownEvent = typeof lockdownEvents.$inferSelect;

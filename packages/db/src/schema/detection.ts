import { bigserial, index, integer, primaryKey, text, timestamp, pgTable } from 'drizzle-orm/pg-core';

/**
 * Intrusion detection's sliding-window counters, shared by every process on the database: one row
 * per counted event (or per flushed batch of API calls, with its weight). `member` is what a
 * distinct count counts (a hashed email, an IP); null for a plain count. Purged past the window.
 */
export const detectionEvents = pgTable(
  'detection_events',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    rule: text('rule').notNull(),
    key: text('key').notNull(),
    member: text('member'),
    weight: integer('weight').notNull().default(1),
    at: timestamp('at', { withTimezone: true }).notNull(),
  },
  (t) => [index('detection_events_rule_key_at_idx').on(t.rule, t.key, t.at)],
);

/** When a (rule, key) last fired: a crossing fires once per window, on whichever process counted it. */
export const detectionFirings = pgTable(
  'detection_firings',
  {
    rule: text('rule').notNull(),
    key: text('key').notNull(),
    firedAt: timestamp('fired_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.rule, t.key] })],
);

export type DetectionEventRow = typeof detectionEvents.$inferSelect;

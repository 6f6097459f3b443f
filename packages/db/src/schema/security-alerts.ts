import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.ts';

/**
 * Security alerts (threshold crossed, block, incident, lockdown). Ids are handed out in commit
 * order (an advisory lock held to commit), so a stream resumed after id N misses none.
 */
export const securityAlerts = pgTable(
  'security_alerts',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    type: text('type').notNull(),
    severity: text('severity').notNull(),
    title: text('title').notNull(),
    message: text('message').notNull(),
    incidentId: text('incident_id'),
    ip: text('ip'),
    userId: uuid('user_id'),
    /** Never a secret: redacted before it is written. */
    details: jsonb('details').$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    acknowledgedAt: timestamp('acknowledged_at', { withTimezone: true }),
    acknowledgedBy: uuid('acknowledged_by').references(() => users.id, { onDelete: 'set null' }),
  },
  (t) => [index('security_alerts_created_idx').on(t.createdAt)],
);

/** One webhook delivery per alert, written in the alert's transaction; delivered in id order. */
export const securityWebhookOutbox = pgTable(
  'security_webhook_outbox',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    alertId: bigint('alert_id', { mode: 'bigint' })
      .notNull()
      .references(() => securityAlerts.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    /** The last failure: status or error text, never the secret or the URL's credentials. */
    lastError: text('last_error'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
  },
  (t) => [index('security_webhook_outbox_pending_idx').on(t.deliveredAt, t.id)],
);

export type SecurityAlertRow = typeof securityAlerts.$inferSelect;
export type SecurityWebhookOutboxRow = typeof securityWebhookOutbox.$inferSelect;

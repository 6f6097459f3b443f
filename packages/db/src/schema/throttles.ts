import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

// Failed logins per client IP live in the database so every server process sees the same count.
export const loginIpThrottles = pgTable('login_ip_throttles', {
  ip: text('ip').primaryKey(),
  failedCount: integer('failed_count').notNull().default(0),
  windowStart: timestamp('window_start', { withTimezone: true }).notNull().defaultNow(),
  blockedUntil: timestamp('blocked_until', { withTimezone: true }),
});

import { index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.ts';

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** The public part of `tvk_<prefix>_<secret>`: finds the row, identifies the key in lists and logs. */
    prefix: text('prefix').notNull().unique(),
    // SHA-256 of the secret: the secret has 256 random bits, so a slow hash would add nothing.
    secretHash: text('secret_hash').notNull(),
    /** After a roll, the old secret keeps working until previousExpiresAt. */
    previousSecretHash: text('previous_secret_hash'),
    previousExpiresAt: timestamp('previous_expires_at', { withTimezone: true }),
    /**
     * Secrets from rolls before the previous one whose grace has not ended, each with its own end
     * (ISO time): a roll during a grace period does not cut that grace short.
     */
    earlierSecrets: jsonb('earlier_secrets').$type<EarlierSecret[]>().notNull().default([]),
    permissions: jsonb('permissions').$type<string[]>().notNull(),
    /** Requests per minute for this key, on top of the platform's own limits. */
    rateLimitPerMinute: integer('rate_limit_per_minute'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    rolledAt: timestamp('rolled_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    /** Set while an emergency lockdown holds the key; cleared on lift, unlike a revocation. */
    suspendedAt: timestamp('suspended_at', { withTimezone: true }),
    /** The lockdown that suspended it: a lift restores only its own, not keys suspended otherwise. */
    suspendedByLockdown: uuid('suspended_by_lockdown'),
  },
  (t) => [index('api_keys_user_idx').on(t.userId)],
);

export interface EarlierSecret {
  /** SHA-256 of the secret, hex. */
  hash: string;
  expiresAt: string;
}

export type ApiKey = typeof apiKeys.$inferSelect;

import { sql } from 'drizzle-orm';
import { bigserial, check, doublePrecision, index, integer, jsonb, pgEnum, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const engineRunStateEnum = pgEnum('engine_run_state', ['running', 'stopped']);

/**
 * The trading engine's one row: run state and risk limits together, so one row lock serialises
 * every start, stop and configure across all server processes, and `version` counts every change.
 */
export const engineState = pgTable(
  'engine_state',
  {
    id: integer('id').primaryKey().default(1),
    state: engineRunStateEnum('state').notNull().default('stopped'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    stoppedAt: timestamp('stopped_at', { withTimezone: true }),
    maxPositionPerSymbol: integer('max_position_per_symbol').notNull().default(50),
    maxDailyNotionalPerUser: doublePrecision('max_daily_notional_per_user').notNull().default(10_000_000),
    limitPriceBandPct: doublePrecision('limit_price_band_pct').notNull().default(5),
    maxOrderQuantity: integer('max_order_quantity').notNull().default(100),
    limitsUpdatedAt: timestamp('limits_updated_at', { withTimezone: true }),
    limitsUpdatedBy: text('limits_updated_by'),
    /** Who made the last change of any kind: `user:<id>` or `apikey:<id>`. */
    updatedBy: text('updated_by'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    version: integer('version').notNull().default(0),
  },
  (t) => [
    check('engine_state_single_row', sql`${t.id} = 1`),
    // The order path trusts these; a row written by another tool must not widen them.
    check('engine_state_max_order_quantity', sql`${t.maxOrderQuantity} between 1 and 100`),
    check('engine_state_max_position', sql`${t.maxPositionPerSymbol} >= 1`),
    check('engine_state_daily_notional', sql`${t.maxDailyNotionalPerUser} > 0`),
    check('engine_state_price_band', sql`${t.limitPriceBandPct} > 0 and ${t.limitPriceBandPct} <= 100`),
  ],
);

/** Every engine change in commit order; `system.onStatus` resumes from these ids. */
export const engineEvents = pgTable(
  'engine_events',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    kind: text('kind').notNull(),
    payload: jsonb('payload').notNull(),
  },
  (t) => [index('engine_events_at_idx').on(t.at)],
);

export type EngineStateRow = typeof engineState.$inferSelect;
export type EngineEvent = typeof engineEvents.$inferSelect;

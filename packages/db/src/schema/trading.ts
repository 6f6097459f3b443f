import { sql } from 'drizzle-orm';
import {
  bigserial,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { users } from './users.ts';

export const orderSideEnum = pgEnum('order_side', ['BUY', 'SELL']);
export const orderTypeEnum = pgEnum('order_type', ['market', 'limit']);
export const orderStatusEnum = pgEnum('order_status', ['working', 'filled', 'cancelled', 'rejected']);
export const botStatusEnum = pgEnum('bot_status', ['stopped', 'running']);

/**
 * A bot trades its owner's account under its own identity. Credentials and secret-named
 * parameters are stored sealed (AES-256-GCM, `tv1.<kid>.…`), never in plaintext.
 */
export const bots = pgTable(
  'bots',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    strategy: text('strategy').notNull(),
    symbols: jsonb('symbols').$type<string[]>().notNull(),
    /** Strategy parameters; values of secret-named keys are sealed. */
    parameters: jsonb('parameters').$type<Record<string, unknown>>().notNull(),
    /** Every value sealed. */
    credentials: jsonb('credentials').$type<Record<string, string>>().notNull(),
    status: botStatusEnum('status').notNull().default('stopped'),
    lastError: text('last_error'),
    startedAt: timestamp('started_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    version: integer('version').notNull().default(0),
  },
  (t) => [uniqueIndex('bots_owner_name_idx').on(t.ownerId, t.name), index('bots_status_idx').on(t.status)],
);

/**
 * One row per order, rejected ones included: a retried clientOrderId finds it here and gets the
 * first answer back. `notional` is what the order commits today for the daily limit.
 */
export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    botId: uuid('bot_id').references(() => bots.id, { onDelete: 'set null' }),
    /** Who placed it: `user:<id>`, `apikey:<id>` or `bot:<id>`. */
    placedBy: text('placed_by').notNull(),
    clientOrderId: text('client_order_id').notNull(),
    /** Hash of the request's fields, so a reused clientOrderId with other fields is refused. */
    requestHash: text('request_hash').notNull(),
    symbol: text('symbol').notNull(),
    side: orderSideEnum('side').notNull(),
    type: orderTypeEnum('type').notNull(),
    quantity: integer('quantity').notNull(),
    limitPrice: doublePrecision('limit_price'),
    status: orderStatusEnum('status').notNull(),
    filledQuantity: integer('filled_quantity').notNull().default(0),
    averageFillPrice: doublePrecision('average_fill_price'),
    notional: doublePrecision('notional').notNull().default(0),
    reason: text('reason').notNull(),
    confidence: integer('confidence'),
    rejectRule: text('reject_rule'),
    rejectMessage: text('reject_message'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('orders_owner_client_order_idx').on(t.ownerId, t.clientOrderId),
    index('orders_owner_created_idx').on(t.ownerId, t.createdAt, t.id),
    index('orders_created_idx').on(t.createdAt, t.id),
    index('orders_working_idx').on(t.symbol).where(sql`${t.status} = 'working'`),
    index('orders_bot_idx').on(t.botId),
    // The risk check caps quantity; a rejected ticket keeps the quantity it was sent with.
    check('orders_quantity', sql`${t.quantity} >= 1`),
    check('orders_limit_price', sql`(${t.type} = 'limit') = (${t.limitPrice} is not null)`),
    check('orders_filled', sql`${t.filledQuantity} between 0 and ${t.quantity}`),
  ],
);

/** Executions, in the order they happened; `id` is the keyset cursor of `trading.trades`. */
export const fills = pgTable(
  'fills',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    botId: uuid('bot_id').references(() => bots.id, { onDelete: 'set null' }),
    symbol: text('symbol').notNull(),
    side: orderSideEnum('side').notNull(),
    quantity: integer('quantity').notNull(),
    price: doublePrecision('price').notNull(),
    notional: doublePrecision('notional').notNull(),
    /** The tape print the fill was priced from. */
    printId: text('print_id'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('fills_owner_id_idx').on(t.ownerId, t.id),
    index('fills_order_idx').on(t.orderId),
    index('fills_bot_idx').on(t.botId, t.id),
    check('fills_quantity', sql`${t.quantity} > 0`),
  ],
);

/** Net position per account and symbol, average-cost; updated in the fill's transaction. */
export const positions = pgTable(
  'positions',
  {
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    symbol: text('symbol').notNull(),
    quantity: integer('quantity').notNull().default(0),
    averagePrice: doublePrecision('average_price').notNull().default(0),
    realizedPnl: doublePrecision('realized_pnl').notNull().default(0),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.ownerId, t.symbol] })],
);

/**
 * Order updates, fills and alerts, in commit order (writers take one lock just before
 * inserting here), so a subscriber resuming after an id misses nothing that commits later.
 */
export const tradingEvents = pgTable(
  'trading_events',
  {
    id: bigserial('id', { mode: 'bigint' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    kind: text('kind').notNull(),
    /** The account the event concerns; null for desk-wide alerts. */
    ownerId: uuid('owner_id'),
    payload: jsonb('payload').notNull(),
  },
  (t) => [index('trading_events_kind_id_idx').on(t.kind, t.id), index('trading_events_owner_idx').on(t.ownerId, t.kind, t.id)],
);

export type Bot = typeof bots.$inferSelect;
export type OrderRow = typeof orders.$inferSelect;
export type FillRow = typeof fills.$inferSelect;
export type PositionRow = typeof positions.$inferSelect;
export type TradingEventRow = typeof tradingEvents.$inferSelect;
export type TradingEventKind = 'order' | 'fill' | 'alert';

import { z } from 'zod';
import { text } from './text.ts';
import { RISK_RULES, type RiskRule } from '../trading/risk.ts';
import { DEFAULT_UNIVERSE } from '../trading/instruments.ts';

const SYMBOLS = DEFAULT_UNIVERSE.map((i) => i.symbol) as [string, ...string[]];
const uuid = z.uuid();
const lastEventId = text().regex(/^\d{1,19}$/).nullish();

export const ORDER_SIDES = ['BUY', 'SELL'] as const;
export const ORDER_TYPES = ['market', 'limit'] as const;
export const ORDER_STATUSES = ['working', 'filled', 'cancelled', 'rejected'] as const;
export type OrderSide = (typeof ORDER_SIDES)[number];
export type OrderType = (typeof ORDER_TYPES)[number];
export type OrderStatusName = (typeof ORDER_STATUSES)[number];

/**
 * One ticket. Symbols outside the universe and quantities above the engine's limit pass this
 * shape and are refused by the risk check, so the rejection names the rule and is audited.
 */
export const executeOrderInput = z
  .strictObject({
    action: z.enum(ORDER_SIDES),
    symbol: text().trim().toUpperCase().min(1).max(16).regex(/^[A-Z0-9._-]+$/, 'Symbol: letters, digits, ".", "_" or "-"'),
    quantity: z.number().int().min(1).max(1_000_000),
    type: z.enum(ORDER_TYPES),
    price: z.number().positive().finite().max(1e9).optional(),
    /** Why the order is placed; kept with the order and in the audit log. */
    reason: text().trim().min(5).max(500),
    confidence: z.number().min(0).max(100).optional(),
    /** The caller's own id for this order: a retry with the same id returns the first result. */
    clientOrderId: text().trim().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/, 'clientOrderId: letters, digits, ".", "_", ":" or "-"'),
  })
  .superRefine((v, ctx) => {
    if (v.type === 'limit' && v.price === undefined) ctx.addIssue({ code: 'custom', path: ['price'], message: 'A limit order needs a price' });
    if (v.type === 'market' && v.price !== undefined) ctx.addIssue({ code: 'custom', path: ['price'], message: 'A market order takes no price' });
  });

export type ExecuteOrderInput = z.infer<typeof executeOrderInput>;

export const cancelOrderInput = z.strictObject({ orderId: uuid });

const pageShape = {
  /** nextCursor of the previous page. */
  cursor: text().max(200).optional(),
  limit: z.number().int().min(1).max(200).optional(),
  /** Sent by tRPC's useInfiniteQuery; pages always run newest first. */
  direction: z.enum(['forward', 'backward']).optional(),
};

const accountFilter = {
  /** Another user's account: only for those who may see every account. */
  ownerId: uuid.optional(),
  symbol: z.enum(SYMBOLS).optional(),
  botId: uuid.optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
};

export const listOrdersInput = z
  .strictObject({ ...pageShape, ...accountFilter, status: z.enum(ORDER_STATUSES).optional(), side: z.enum(ORDER_SIDES).optional() })
  .optional();

export const listTradesInput = z.strictObject({ ...pageShape, ...accountFilter, side: z.enum(ORDER_SIDES).optional() }).optional();

export const listPositionsInput = z.strictObject({ ownerId: uuid.optional() }).optional();

export const closePositionInput = z.strictObject({
  symbol: z.enum(SYMBOLS),
  /** As for trading.execute: a retried close returns the first result. Generated when omitted. */
  clientOrderId: executeOrderInput.shape.clientOrderId.optional(),
});

export const tradingStreamInput = z.strictObject({ lastEventId }).optional();

/** The kill switch: one's own account, or (security.manage) the given one, or with none every account. */
export const cancelAllInput = z.strictObject({ userId: uuid.optional() }).optional();
export const flattenAllInput = z.strictObject({ userId: uuid.optional() }).optional();

export interface CancelAllResult {
  cancelled: number;
  orderIds: string[];
}

export interface FlattenAllResult {
  flattened: number;
  /** The closing orders placed, one position after another. */
  closes: { ownerId: string; symbol: string; quantity: number; orderIds: string[] }[];
  /** Positions the desk's rules would not close now (no last price, say), with the rule. */
  refused: { ownerId: string; symbol: string; reason: string }[];
}
export const alertsListInput = z.strictObject({ limit: z.number().int().min(1).max(200).optional() }).optional();

export interface OrderView {
  id: string;
  ownerId: string;
  botId: string | null;
  placedBy: string;
  clientOrderId: string;
  symbol: string;
  side: OrderSide;
  type: OrderType;
  quantity: number;
  limitPrice: number | null;
  status: OrderStatusName;
  filledQuantity: number;
  averageFillPrice: number | null;
  reason: string;
  confidence: number | null;
  rejectRule: RiskRule | null;
  rejectMessage: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * What positions.close answers: its first order, and every order of the close in sequence (one,
 * unless the position was larger than the engine's maxOrderQuantity).
 */
export interface ClosedPositionView extends OrderView {
  orders: OrderView[];
}

export interface FillView {
  id: string;
  orderId: string;
  ownerId: string;
  botId: string | null;
  symbol: string;
  side: OrderSide;
  quantity: number;
  price: number;
  notional: number;
  printId: string | null;
  at: string;
}

export interface PositionView {
  ownerId: string;
  symbol: string;
  /** Signed: long > 0, short < 0. */
  quantity: number;
  averagePrice: number;
  lastPrice: number | null;
  realizedPnl: number;
  unrealizedPnl: number;
  updatedAt: string;
}

export interface PositionsSummary {
  positions: PositionView[];
  totals: { realized: number; unrealized: number; total: number };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;

/** A security alert's own fields, carried on its AlertView. */
export interface SecurityAlertView {
  id: string;
  type: string;
  severity: string;
  title: string;
  message: string;
  incidentId: string | null;
  ip: string | null;
  userId: string | null;
  details: Record<string, unknown>;
  createdAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
}

export interface AlertView {
  /** Trading alerts' ids are digits; security alerts' are "s<digits>" (their own id space). */
  id: string;
  at: string;
  kind: 'trading' | 'security';
  /** As kind (kept for older clients). */
  category: 'trading' | 'security';
  severity: (typeof ALERT_SEVERITIES)[number];
  ownerId: string | null;
  /** The risk rule or event that raised it. */
  rule: string;
  message: string;
  orderId: string | null;
  symbol: string | null;
  /** Security alerts only: the alert's own fields, and whether this is it raised or acknowledged. */
  security?: SecurityAlertView;
  event?: 'raised' | 'acknowledged';
}

export { RISK_RULES, type RiskRule };

import { createHash, randomUUID } from 'node:crypto';
import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { engineState, orders, positions, type OrderRow, type Tx } from '@tapevision/db';
import { auditedTransaction, type AuditActor, type AuditEvent, type RequestOrigin } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';
import { appError } from '../errors.ts';
import type { ExecuteOrderInput, OrderView } from '../schemas/trading.ts';
import type { Broker, BrokerOrder } from '../trading/broker.ts';
import { DEFAULT_UNIVERSE, findInstrument, isOnTick, type Instrument } from '../trading/instruments.ts';
import { checkOrderRisk, type RiskRule } from '../trading/risk.ts';
import { activeLockdown } from '../security/lockdown/state.ts';
import { bookFill, lockAccount, notionalOf } from './order-fills.ts';
import { appendTradingEvents, publishTradingEvent, type NewTradingEvent } from './trading-events.ts';
import { toOrderView } from './trading-views.ts';

/** Who places an order, and for which account. A bot trades its owner's account as itself. */
export interface TradingActor {
  /** The account traded (a user id). */
  ownerId: string;
  actor: AuditActor;
  origin: RequestOrigin;
  botId: string | null;
  /** `user:<id>`, `apikey:<id>` or `bot:<id>`. */
  placedBy: string;
}

export interface TradingDeps extends Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'audit' | 'market'> {
  /** Prices market orders: the paper broker on the shared tape, or a real broker adapter. */
  broker: Broker;
  universe?: readonly Instrument[];
}

export const RULE_MESSAGES: Record<RiskRule, string> = {
  lockdown: 'The platform is in emergency lockdown',
  engine_stopped: 'The trading engine is stopped',
  symbol_not_in_universe: 'The symbol is not traded here',
  quantity_out_of_range: 'The quantity is outside the allowed range',
  no_reference_price: 'There is no last price to judge the order against yet',
  limit_price_out_of_band: 'The limit price is too far from the last price',
  max_position_per_symbol: 'The order would take the position past its limit',
  max_daily_notional: "The order would take today's notional past its limit",
};

// The first three depend on the desk's state, not on what was sent; the caller may retry later.
const STATE_RULES: ReadonlySet<RiskRule> = new Set(['lockdown', 'engine_stopped', 'no_reference_price', 'max_position_per_symbol', 'max_daily_notional']);

export function riskRejection(rule: RiskRule, orderId: string) {
  return appError(STATE_RULES.has(rule) ? 'PRECONDITION_FAILED' : 'BAD_REQUEST', `Order rejected: ${RULE_MESSAGES[rule]}`, {
    reason: 'RISK_REJECTED',
    rule,
    orderId,
  });
}

/** What makes two tickets "the same request": a retry must match the first in every field. */
export function requestHash(input: ExecuteOrderInput): string {
  const { action, symbol, quantity, type, price, reason, confidence } = input;
  return createHash('sha256')
    .update(JSON.stringify([action, symbol, quantity, type, price ?? null, reason, confidence ?? null]))
    .digest('base64url');
}

function startOfUtcDay(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

export interface RiskInputs {
  engineRunning: boolean;
  /** Read in the order's transaction, after the engine row: a lockdown engaged on any process counts at once. */
  lockdown: boolean;
  limits: { maxPositionPerSymbol: number; maxDailyNotionalPerUser: number; limitPriceBandPct: number; maxOrderQuantity: number };
  /** The worst position the account could reach in the order's direction, were its working orders to fill. */
  exposure: number;
  dailyNotional: number;
}

export async function gatherRisk(tx: Tx, ownerId: string, symbol: string, side: 'BUY' | 'SELL', now: Date): Promise<RiskInputs> {
  // FOR SHARE: a stop waits for orders already past this point, and every order after it sees it.
  const [engine] = await tx.select().from(engineState).where(eq(engineState.id, 1)).for('share');
  // Engaging takes the engine row FOR UPDATE: this read, after the FOR SHARE, sees a lockdown committed meanwhile.
  const lockdown = (await activeLockdown(tx)) !== null;
  const [held] = await tx
    .select({ quantity: positions.quantity })
    .from(positions)
    .where(and(eq(positions.ownerId, ownerId), eq(positions.symbol, symbol)));
  const [working] = await tx
    .select({ qty: sql<number>`coalesce(sum(${orders.quantity} - ${orders.filledQuantity}), 0)::int` })
    .from(orders)
    .where(and(eq(orders.ownerId, ownerId), eq(orders.symbol, symbol), eq(orders.status, 'working'), eq(orders.side, side)));
  const [spent] = await tx
    .select({ total: sql<number>`coalesce(sum(${orders.notional}), 0)::float8` })
    .from(orders)
    .where(and(eq(orders.ownerId, ownerId), inArray(orders.status, ['working', 'filled']), gte(orders.createdAt, startOfUtcDay(now))));
  const position = held?.quantity ?? 0;
  const pending = working?.qty ?? 0;
  return {
    engineRunning: engine?.state === 'running',
    lockdown,
    limits: engine ?? { maxPositionPerSymbol: 50, maxDailyNotionalPerUser: 10_000_000, limitPriceBandPct: 5, maxOrderQuantity: 100 },
    exposure: side === 'BUY' ? position + pending : position - pending,
    dailyNotional: Number(spent?.total ?? 0),
  };
}

type Outcome =
  | { kind: 'replay'; order: OrderRow }
  | { kind: 'mismatch' }
  | { kind: 'placed'; order: OrderRow; eventId: bigint | null; rule: RiskRule | null };

/**
 * One ticket, end to end: idempotent on (account, clientOrderId), risk-checked, and — order,
 * fill, position and events — one transaction. A rejected order is stored too, so its retry
 * answers the same rejection; it raises a trading alert and is audited. Throws the typed
 * rejection (PRECONDITION_FAILED for the desk's state, BAD_REQUEST for the order itself). Its audit
 * row commits with the order.
 */
export async function executeOrder(deps: TradingDeps, who: TradingActor, input: ExecuteOrderInput): Promise<OrderView> {
  const universe = deps.universe ?? DEFAULT_UNIVERSE;
  const instrument = findInstrument(universe, input.symbol);
  if (instrument && input.price !== undefined && !isOnTick(input.price, instrument.tickSize)) {
    throw appError('BAD_REQUEST', `Price must be a multiple of ${instrument.tickSize} for ${instrument.symbol}`, { reason: 'OFF_TICK', tickSize: instrument.tickSize });
  }
  const hash = requestHash(input);
  const place = async (tx: Tx): Promise<Outcome> => {
    await lockAccount(tx, who.ownerId);
    const [existing] = await tx
      .select()
      .from(orders)
      .where(and(eq(orders.ownerId, who.ownerId), eq(orders.clientOrderId, input.clientOrderId)));
    if (existing) return existing.requestHash === hash ? { kind: 'replay', order: existing } : { kind: 'mismatch' };

    const now = deps.clock.now();
    const risk = await gatherRisk(tx, who.ownerId, input.symbol, input.action, now);
    const last = deps.market.lastPrices().find((p) => p.symbol === input.symbol);
    const brokerOrder: BrokerOrder =
      input.type === 'limit'
        ? { type: 'limit', symbol: input.symbol, side: input.action, quantity: input.quantity, limitPrice: input.price! }
        : { type: 'market', symbol: input.symbol, side: input.action, quantity: input.quantity };
    const rule = checkOrderRisk(brokerOrder, {
      engineState: risk.engineRunning ? 'running' : 'stopped',
      lockdown: risk.lockdown,
      universe,
      limits: risk.limits,
      position: risk.exposure,
      dailyNotional: risk.dailyNotional,
      lastPrice: last?.price ?? undefined,
    });
    const base = {
      id: randomUUID(),
      ownerId: who.ownerId,
      botId: who.botId,
      placedBy: who.placedBy,
      clientOrderId: input.clientOrderId,
      requestHash: hash,
      symbol: input.symbol,
      side: input.action,
      type: input.type,
      quantity: input.quantity,
      limitPrice: input.type === 'limit' ? input.price! : null,
      reason: input.reason,
      confidence: input.confidence === undefined ? null : Math.round(input.confidence),
      createdAt: now,
      updatedAt: now,
    };

    if (rule || !instrument) {
      const why = rule ?? 'symbol_not_in_universe';
      const [order] = await tx.insert(orders).values({ ...base, status: 'rejected', rejectRule: why, rejectMessage: RULE_MESSAGES[why] }).returning();
      const events: NewTradingEvent[] = [
        { kind: 'order', ownerId: who.ownerId, payload: { ...toOrderView(order!) }, at: now },
        {
          kind: 'alert',
          ownerId: who.ownerId,
          payload: { category: 'trading', severity: 'warning', rule: why, message: `${input.action} ${input.quantity} ${input.symbol} rejected: ${RULE_MESSAGES[why]}`, orderId: order!.id, symbol: input.symbol },
          at: now,
        },
      ];
      return { kind: 'placed', order: order!, eventId: await appendTradingEvents(tx, events), rule: why };
    }

    if (input.type === 'limit') {
      const [order] = await tx
        .insert(orders)
        .values({ ...base, status: 'working', notional: notionalOf(instrument, input.price!, input.quantity) })
        .returning();
      const eventId = await appendTradingEvents(tx, [{ kind: 'order', ownerId: who.ownerId, payload: { ...toOrderView(order!) }, at: now }]);
      return { kind: 'placed', order: order!, eventId, rule: null };
    }

    const filled = deps.broker.submit(brokerOrder);
    if (filled.status !== 'filled' || filled.averageFillPrice === undefined) throw new Error(`broker did not fill a market order: ${filled.reason ?? filled.status}`);
    const [order] = await tx.insert(orders).values({ ...base, status: 'working' }).returning();
    const booked = await bookFill(tx, universe, order!, { price: filled.averageFillPrice, quantity: input.quantity, printId: last?.printId ?? null, at: now });
    const eventId = await appendTradingEvents(tx, booked.events);
    return { kind: 'placed', order: booked.order, eventId, rule: null };
  };
  const outcome = await auditedTransaction(deps, async (tx: Tx): Promise<Outcome> => {
    const placed = await place(tx);
    if (placed.kind !== 'placed') return placed;
    const { order, rule } = placed;
    await deps.audit.recordIn(tx, orderAuditEvent(who, order, rule));
    return placed;
  });

  if (outcome.kind === 'mismatch') {
    throw appError('CONFLICT', 'This clientOrderId was already used for a different order', { reason: 'CLIENT_ORDER_ID_REUSED' });
  }
  if (outcome.kind === 'replay') {
    if (outcome.order.status === 'rejected' && outcome.order.rejectRule) throw riskRejection(outcome.order.rejectRule as RiskRule, outcome.order.id);
    return toOrderView(outcome.order);
  }
  const { order, rule } = outcome;
  await publishTradingEvent(deps.bus, outcome.eventId);
  if (rule) throw riskRejection(rule, order.id);
  return toOrderView(order);
}

/** The audit row of a placed or rejected order: the same for a ticket, a close's child order and a bot's order. */
export function orderAuditEvent(who: TradingActor, order: OrderRow, rule: RiskRule | null): AuditEvent {
  return {
    action: rule ? 'trade.rejected' : 'trade.executed',
    outcome: rule ? 'failure' : 'success',
    actor: who.actor,
    origin: who.origin,
    resource: { type: 'order', id: order.id },
    details: {
      ownerId: order.ownerId,
      botId: order.botId,
      clientOrderId: order.clientOrderId,
      symbol: order.symbol,
      side: order.side,
      type: order.type,
      quantity: order.quantity,
      limitPrice: order.limitPrice,
      status: order.status,
      fillPrice: order.averageFillPrice,
      ...(rule ? { rule } : {}),
    },
  };
}

/**
 * Cancels a working order of the caller's account. Another account's order answers NOT_FOUND,
 * exactly like a missing one. Races with a fill on the same order: whichever commits first wins.
 */
export async function cancelOrder(deps: TradingDeps, who: TradingActor, orderId: string): Promise<OrderView> {
  const result = await auditedTransaction(deps, async (tx: Tx) => {
    const [found] = await tx.select({ ownerId: orders.ownerId }).from(orders).where(eq(orders.id, orderId));
    if (!found || found.ownerId !== who.ownerId) return { kind: 'missing' as const };
    await lockAccount(tx, who.ownerId);
    const now = deps.clock.now();
    const [cancelled] = await tx
      .update(orders)
      .set({ status: 'cancelled', notional: sql`${orders.notional} * ${orders.filledQuantity} / ${orders.quantity}`, updatedAt: now })
      .where(and(eq(orders.id, orderId), eq(orders.status, 'working')))
      .returning();
    if (!cancelled) {
      const [current] = await tx.select().from(orders).where(eq(orders.id, orderId));
      return { kind: 'done' as const, order: current! };
    }
    const eventId = await appendTradingEvents(tx, [{ kind: 'order', ownerId: who.ownerId, payload: { ...toOrderView(cancelled) }, at: now }]);
    await deps.audit.recordIn(tx, {
      action: 'order.cancelled',
      outcome: 'success',
      actor: who.actor,
      origin: who.origin,
      resource: { type: 'order', id: orderId },
      details: { ownerId: cancelled.ownerId, clientOrderId: cancelled.clientOrderId, symbol: cancelled.symbol, side: cancelled.side, quantity: cancelled.quantity },
    });
    return { kind: 'cancelled' as const, order: cancelled, eventId };
  });
  if (result.kind === 'missing') throw appError('NOT_FOUND', 'Order not found');
  if (result.kind === 'done') {
    throw appError('PRECONDITION_FAILED', `The order is already ${result.order.status}`, { reason: 'ORDER_NOT_WORKING', status: result.order.status });
  }
  await publishTradingEvent(deps.bus, result.eventId);
  return toOrderView(result.order);
}

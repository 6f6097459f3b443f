import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { orders, positions, type OrderRow, type Tx } from '@tapevision/db';
import { auditedTransaction } from '../audit/recorder.ts';
import { appError } from '../errors.ts';
import { MAX_ORDER_QUANTITY_CEILING } from '../schemas/system.ts';
import type { ClosedPositionView, ExecuteOrderInput, OrderSide } from '../schemas/trading.ts';
import { DEFAULT_UNIVERSE, findInstrument } from '../trading/instruments.ts';
import { checkOrderRisk, type RiskRule } from '../trading/risk.ts';
import { bookFill, lockAccount } from './order-fills.ts';
import { gatherRisk, orderAuditEvent, requestHash, riskRejection, RULE_MESSAGES, type TradingActor, type TradingDeps } from './trading.ts';
import { appendTradingEvents, publishTradingEvent, type NewTradingEvent } from './trading-events.ts';
import { toOrderView } from './trading-views.ts';

type CloseOutcome =
  | { kind: 'flat' }
  | { kind: 'mismatch' }
  | { kind: 'replay'; orders: OrderRow[] }
  | { kind: 'rejected'; order: OrderRow; rule: RiskRule; eventId: bigint | null }
  | { kind: 'closed'; orders: OrderRow[]; held: number; eventId: bigint | null };

/** Child orders after the first carry `<clientOrderId>/<n>`: "/" is not allowed in a ticket's own id, so none collides. */
function childClientOrderId(clientOrderId: string, index: number): string {
  return index === 0 ? clientOrderId : `${clientOrderId}/${index + 1}`;
}

/** `total` contracts in orders of at most `max`, largest first. */
export function childQuantities(total: number, max: number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0; left -= max) sizes.push(Math.min(left, max));
  return sizes;
}

async function closeOrders(tx: Tx, ownerId: string, clientOrderId: string): Promise<OrderRow[]> {
  const rows = await tx
    .select()
    .from(orders)
    .where(and(eq(orders.ownerId, ownerId), sql`(${orders.clientOrderId} = ${clientOrderId} or starts_with(${orders.clientOrderId}, ${`${clientOrderId}/`}))`));
  const part = (row: OrderRow) => (row.clientOrderId === clientOrderId ? 1 : Number(row.clientOrderId.slice(clientOrderId.length + 1)));
  return rows.sort((a, b) => part(a) - part(b));
}

/**
 * Flattens the account's position in `symbol`: reduce-only, so its size is read under the account
 * lock, from the position itself, and it can never flip or grow it (a second close racing this
 * one finds the position flat). A position larger than maxOrderQuantity closes in as many market
 * orders as it takes, in one transaction: all of them or none. A flat position is
 * PRECONDITION_FAILED (NO_POSITION); a retry with the same clientOrderId answers the first close.
 * The desk's own rules still apply (engine stopped, lockdown, no last price), with a stored
 * rejection; `haltExempt` (an admin's close, the kill switch) lets it through a stop or a lockdown.
 */
export async function closePosition(
  deps: TradingDeps,
  who: TradingActor,
  input: { symbol: string; clientOrderId?: string | undefined },
  opts: { haltExempt?: boolean } = {},
): Promise<ClosedPositionView> {
  const universe = deps.universe ?? DEFAULT_UNIVERSE;
  const clientOrderId = input.clientOrderId ?? `close-${randomUUID()}`;
  const reason = `Close the ${input.symbol} position`;
  const outcome = await auditedTransaction(deps, async (tx: Tx): Promise<CloseOutcome> => {
    await lockAccount(tx, who.ownerId);
    const earlier = await closeOrders(tx, who.ownerId, clientOrderId);
    if (earlier.length > 0) return earlier[0]!.symbol === input.symbol ? { kind: 'replay', orders: earlier } : { kind: 'mismatch' };

    const [held] = await tx
      .select({ quantity: positions.quantity })
      .from(positions)
      .where(and(eq(positions.ownerId, who.ownerId), eq(positions.symbol, input.symbol)))
      .for('update');
    const position = held?.quantity ?? 0;
    if (position === 0) return { kind: 'flat' };

    const side: OrderSide = position > 0 ? 'SELL' : 'BUY';
    const now = deps.clock.now();
    const risk = await gatherRisk(tx, who.ownerId, input.symbol, side, now);
    const last = deps.market.lastPrices().find((p) => p.symbol === input.symbol);
    const sizes = childQuantities(Math.abs(position), Math.min(risk.limits.maxOrderQuantity, MAX_ORDER_QUANTITY_CEILING));
    const ticketOf = (quantity: number, index: number): ExecuteOrderInput => ({
      action: side,
      symbol: input.symbol,
      quantity,
      type: 'market',
      reason: sizes.length === 1 ? reason : `${reason} (${index + 1} of ${sizes.length})`,
      clientOrderId: childClientOrderId(clientOrderId, index),
    });
    const base = (ticket: ExecuteOrderInput) => ({
      id: randomUUID(),
      ownerId: who.ownerId,
      botId: who.botId,
      placedBy: who.placedBy,
      clientOrderId: ticket.clientOrderId,
      requestHash: requestHash(ticket),
      symbol: input.symbol,
      side,
      type: 'market' as const,
      quantity: ticket.quantity,
      limitPrice: null,
      reason: ticket.reason,
      confidence: null,
      createdAt: now,
      updatedAt: now,
    });

    // Judged against the position itself (not working orders): every child only reduces it, so
    // the position and notional limits pass, as they do for any reducing order.
    const rule = checkOrderRisk(
      { type: 'market', symbol: input.symbol, side, quantity: sizes[0]! },
      { engineState: risk.engineRunning ? 'running' : 'stopped', lockdown: risk.lockdown, haltExempt: opts.haltExempt ?? false, universe, limits: risk.limits, position, dailyNotional: risk.dailyNotional, lastPrice: last?.price ?? undefined },
    ) ?? (findInstrument(universe, input.symbol) ? null : 'symbol_not_in_universe');
    if (rule) {
      // As for any ticket: one stored rejection (for the whole close), an alert, an audit row.
      const whole = { ...ticketOf(Math.abs(position), 0), reason };
      const [order] = await tx.insert(orders).values({ ...base(whole), status: 'rejected', rejectRule: rule, rejectMessage: RULE_MESSAGES[rule] }).returning();
      const events: NewTradingEvent[] = [
        { kind: 'order', ownerId: who.ownerId, payload: { ...toOrderView(order!) }, at: now },
        {
          kind: 'alert',
          ownerId: who.ownerId,
          payload: { category: 'trading', severity: 'warning', rule, message: `${side} ${Math.abs(position)} ${input.symbol} rejected: ${RULE_MESSAGES[rule]}`, orderId: order!.id, symbol: input.symbol },
          at: now,
        },
      ];
      await auditOrder(deps, tx, who, order!, rule);
      return { kind: 'rejected', order: order!, rule, eventId: await appendTradingEvents(tx, events) };
    }

    const placed: OrderRow[] = [];
    const events: NewTradingEvent[] = [];
    for (const [index, quantity] of sizes.entries()) {
      const ticket = ticketOf(quantity, index);
      const filled = deps.broker.submit({ type: 'market', symbol: input.symbol, side, quantity });
      if (filled.status !== 'filled' || filled.averageFillPrice === undefined) throw new Error(`broker did not fill a close: ${filled.reason ?? filled.status}`);
      const [order] = await tx.insert(orders).values({ ...base(ticket), status: 'working' }).returning();
      const booked = await bookFill(tx, universe, order!, { price: filled.averageFillPrice, quantity, printId: last?.printId ?? null, at: now });
      placed.push(booked.order);
      events.push(...booked.events);
    }
    // The rows commit with the orders: an order that exists always has its audit row.
    for (const order of placed) await auditOrder(deps, tx, who, order, null);
    await deps.audit.recordIn(tx, {
      action: 'position.closed',
      outcome: 'success',
      actor: who.actor,
      origin: who.origin,
      resource: { type: 'position', id: `${who.ownerId}:${input.symbol}` },
      details: {
        ownerId: who.ownerId,
        symbol: input.symbol,
        quantity: position,
        orderId: placed[0]!.id,
        orderIds: placed.map((o) => o.id),
        fillPrice: placed[0]!.averageFillPrice,
      },
    });
    return { kind: 'closed', orders: placed, held: position, eventId: await appendTradingEvents(tx, events) };
  });

  switch (outcome.kind) {
    case 'flat':
      throw appError('PRECONDITION_FAILED', `No open position in ${input.symbol}`, { reason: 'NO_POSITION' });
    case 'mismatch':
      throw appError('CONFLICT', 'This clientOrderId was already used for a different order', { reason: 'CLIENT_ORDER_ID_REUSED' });
    case 'replay': {
      const [first] = outcome.orders;
      if (first!.status === 'rejected' && first!.rejectRule) throw riskRejection(first!.rejectRule as RiskRule, first!.id);
      return closedView(outcome.orders);
    }
    case 'rejected':
      await publishTradingEvent(deps.bus, outcome.eventId);
      throw riskRejection(outcome.rule, outcome.order.id);
    case 'closed': {
      await publishTradingEvent(deps.bus, outcome.eventId);
      return closedView(outcome.orders);
    }
  }
}

function closedView(rows: OrderRow[]): ClosedPositionView {
  const views = rows.map(toOrderView);
  return { ...views[0]!, orders: views };
}

function auditOrder(deps: TradingDeps, tx: Tx, who: TradingActor, order: OrderRow, rule: RiskRule | null): Promise<void> {
  return deps.audit.recordIn(tx, orderAuditEvent(who, order, rule));
}

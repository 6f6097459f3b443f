import { and, eq, sql } from 'drizzle-orm';
import { fills, orders, positions, type FillRow, type OrderRow, type Tx } from '@tapevision/db';
import { findInstrument, type Instrument } from '../trading/instruments.ts';
import { applyFill, flatPosition, roundMoney } from '../trading/pnl.ts';
import { toFillView, toOrderView } from './trading-views.ts';
import type { NewTradingEvent } from './trading-events.ts';

// Orders of one account are placed, filled and cancelled one at a time across every process,
// so the risk checks see the position and notional they are judging, and a clientOrderId is
// looked up before anyone else can insert it. Two-key form: (class, hashtext(account)).
const ACCOUNT_LOCK_CLASS = 7_401_131;

export async function lockAccount(tx: Tx, ownerId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${ACCOUNT_LOCK_CLASS}, hashtext(${ownerId}))`);
}

export function notionalOf(instrument: Pick<Instrument, 'pointValue'>, price: number, quantity: number): number {
  return roundMoney(price * instrument.pointValue * quantity);
}

export interface FillInput {
  price: number;
  quantity: number;
  printId: string | null;
  at: Date;
}

/**
 * Books a whole-quantity fill of `order` inside the caller's transaction (account lock held):
 * the fill row, the position it moves, and the order marked filled. Returns the events to append.
 */
export async function bookFill(
  tx: Tx,
  universe: readonly Instrument[],
  order: OrderRow,
  fill: FillInput,
): Promise<{ order: OrderRow; fill: FillRow; events: NewTradingEvent[] }> {
  const instrument = findInstrument(universe, order.symbol);
  if (!instrument) throw new Error(`fill for unknown symbol ${order.symbol}`);
  const notional = notionalOf(instrument, fill.price, fill.quantity);
  const [fillRow] = await tx
    .insert(fills)
    .values({
      orderId: order.id,
      ownerId: order.ownerId,
      botId: order.botId,
      symbol: order.symbol,
      side: order.side,
      quantity: fill.quantity,
      price: fill.price,
      notional,
      printId: fill.printId,
      at: fill.at,
    })
    .returning();
  const [held] = await tx
    .select()
    .from(positions)
    .where(and(eq(positions.ownerId, order.ownerId), eq(positions.symbol, order.symbol)))
    .for('update');
  const before = held ? { symbol: held.symbol, quantity: held.quantity, averagePrice: held.averagePrice, realizedPnl: held.realizedPnl } : flatPosition(order.symbol);
  const after = applyFill(before, { symbol: order.symbol, side: order.side, price: fill.price, quantity: fill.quantity }, instrument);
  await tx
    .insert(positions)
    .values({ ownerId: order.ownerId, symbol: order.symbol, quantity: after.quantity, averagePrice: after.averagePrice, realizedPnl: after.realizedPnl, updatedAt: fill.at })
    .onConflictDoUpdate({
      target: [positions.ownerId, positions.symbol],
      set: { quantity: after.quantity, averagePrice: after.averagePrice, realizedPnl: after.realizedPnl, updatedAt: fill.at },
    });
  const filledQuantity = order.filledQuantity + fill.quantity;
  const [updated] = await tx
    .update(orders)
    .set({
      status: filledQuantity >= order.quantity ? 'filled' : 'working',
      filledQuantity,
      averageFillPrice: fill.price,
      notional: order.type === 'market' ? notional : order.notional,
      updatedAt: fill.at,
    })
    .where(eq(orders.id, order.id))
    .returning();
  if (!fillRow || !updated) throw new Error('fill not booked');
  return {
    order: updated,
    fill: fillRow,
    events: [
      { kind: 'fill', ownerId: order.ownerId, payload: { ...toFillView(fillRow) }, at: fill.at },
      { kind: 'order', ownerId: order.ownerId, payload: { ...toOrderView(updated) }, at: fill.at },
    ],
  };
}

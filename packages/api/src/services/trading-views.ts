import type { FillRow, OrderRow, TradingEventRow } from '@tapevision/db';
import type { AlertView, FillView, OrderView } from '../schemas/trading.ts';
import type { RiskRule } from '../trading/risk.ts';

/** The only shapes in which orders, fills and alerts leave the server. */
export function toOrderView(row: OrderRow): OrderView {
  return {
    id: row.id,
    ownerId: row.ownerId,
    botId: row.botId,
    placedBy: row.placedBy,
    clientOrderId: row.clientOrderId,
    symbol: row.symbol,
    side: row.side,
    type: row.type,
    quantity: row.quantity,
    limitPrice: row.limitPrice,
    status: row.status,
    filledQuantity: row.filledQuantity,
    averageFillPrice: row.averageFillPrice,
    reason: row.reason,
    confidence: row.confidence,
    rejectRule: row.rejectRule as RiskRule | null,
    rejectMessage: row.rejectMessage,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toFillView(row: FillRow): FillView {
  return {
    id: row.id.toString(),
    orderId: row.orderId,
    ownerId: row.ownerId,
    botId: row.botId,
    symbol: row.symbol,
    side: row.side,
    quantity: row.quantity,
    price: row.price,
    notional: row.notional,
    printId: row.printId,
    at: row.at.toISOString(),
  };
}

/** Event payloads are the views themselves; the event's id and time are the stream's. */
export function toAlertView(row: TradingEventRow): AlertView {
  const p = row.payload as Omit<AlertView, 'id' | 'at' | 'ownerId'>;
  return { ...p, kind: 'trading', category: 'trading', id: row.id.toString(), at: row.at.toISOString(), ownerId: row.ownerId };
}

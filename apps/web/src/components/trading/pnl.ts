import type { PositionsSummary, PositionView, UniverseInstrument } from '@tapevision/api/schemas';

export interface LivePosition extends PositionView {
  /** The price the unrealised P&L is measured from: the tape's newest, else the server's. */
  markPrice: number | null;
}

export interface LiveSummary {
  positions: LivePosition[];
  totals: { realized: number; unrealized: number; total: number };
}

function roundMoney(value: number): number {
  return Math.round(value * 100) / 100;
}

/**
 * The server's positions with their unrealised P&L re-marked to the tape's latest prices, so P&L
 * moves with every print between refetches: (mark − average) × quantity × point value.
 */
export function markToMarket(
  summary: PositionsSummary,
  lastPrices: ReadonlyMap<string, { price: number }>,
  universe: readonly UniverseInstrument[],
): LiveSummary {
  let unrealizedTotal = 0;
  const positions = summary.positions.map((p): LivePosition => {
    const instrument = universe.find((i) => i.symbol === p.symbol);
    const mark = lastPrices.get(p.symbol)?.price ?? p.lastPrice;
    const unrealizedPnl = p.quantity === 0 || mark === null || !instrument ? p.unrealizedPnl : roundMoney((mark - p.averagePrice) * p.quantity * instrument.pointValue);
    unrealizedTotal += unrealizedPnl;
    return { ...p, unrealizedPnl, markPrice: mark };
  });
  const realized = summary.totals.realized;
  const unrealized = roundMoney(unrealizedTotal);
  return { positions, totals: { realized, unrealized, total: roundMoney(realized + unrealized) } };
}

import type { PositionsSummary, UniverseInstrument } from '@tapevision/api/schemas';
import { describe, expect, it } from 'vitest';
import { markToMarket } from './pnl.ts';

const universe: UniverseInstrument[] = [
  { symbol: 'ES', name: 'E-mini S&P 500', tickSize: 0.25, pointValue: 50 },
  { symbol: 'CL', name: 'Crude Oil', tickSize: 0.01, pointValue: 1000 },
];

function position(symbol: string, quantity: number, averagePrice: number, extra: Partial<PositionsSummary['positions'][number]> = {}) {
  return { ownerId: 'u1', symbol, quantity, averagePrice, lastPrice: averagePrice, realizedPnl: 0, unrealizedPnl: 0, updatedAt: '2026-01-01T00:00:00Z', ...extra };
}

describe('markToMarket', () => {
  it('re-marks longs and shorts at the tape price, in money, and totals them with the realised P&L', () => {
    const summary: PositionsSummary = {
      positions: [position('ES', 2, 5000, { realizedPnl: 125 }), position('CL', -3, 78.5)],
      totals: { realized: 125, unrealized: 0, total: 125 },
    };
    const live = markToMarket(summary, new Map([['ES', { price: 5010.25 }], ['CL', { price: 78.43 }]]), universe);
    // ES: 10.25 points × 2 × $50; CL short: 0.07 × 3 × $1000, rounded to cents.
    expect(live.positions.map((p) => p.unrealizedPnl)).toEqual([1025, 210]);
    expect(live.totals).toEqual({ realized: 125, unrealized: 1235, total: 1360 });
    expect(live.positions[0]?.markPrice).toBe(5010.25);
  });

  it("marks at the server's last price when the tape has none yet, and leaves a flat position's P&L as it is", () => {
    const summary: PositionsSummary = {
      positions: [position('ES', 1, 5000, { lastPrice: 5004, unrealizedPnl: 200 }), position('CL', 0, 0, { realizedPnl: -40 })],
      totals: { realized: -40, unrealized: 200, total: 160 },
    };
    const live = markToMarket(summary, new Map(), universe);
    expect(live.positions[0]?.unrealizedPnl).toBe(200);
    expect(live.positions[0]?.markPrice).toBe(5004);
    expect(live.totals).toEqual({ realized: -40, unrealized: 200, total: 160 });
  });
});

import { describe, expect, it } from 'vitest';
import { CL, DEFAULT_UNIVERSE, ES, NQ } from './instruments.ts';
import type { Side } from './market-data.ts';
import { applyFill, flatPosition, positionsFromFills, roundMoney, totalPnl, unrealizedPnl, type Position } from './pnl.ts';

const fill = (symbol: string, side: Side, quantity: number, price: number) => ({ symbol, side, quantity, price });
const run = (symbol: string, contract: typeof ES, ...fills: [Side, number, number][]): Position =>
  fills.reduce((p, [side, qty, price]) => applyFill(p, fill(symbol, side, qty, price), contract), flatPosition(symbol));

describe('applyFill', () => {
  it('opens a long at the fill price', () => {
    expect(run('ES', ES, ['BUY', 2, 5000])).toEqual({ symbol: 'ES', quantity: 2, averagePrice: 5000, realizedPnl: 0 });
  });

  it('averages when adding', () => {
    const p = run('ES', ES, ['BUY', 1, 5000], ['BUY', 3, 5001]);
    expect(p).toMatchObject({ quantity: 4, averagePrice: 5000.75, realizedPnl: 0 });
    // An average between ticks is kept exactly enough to realise the right money later.
    const q = run('ES', ES, ['BUY', 2, 5000], ['BUY', 1, 5000.25]);
    expect(q.averagePrice).toBeCloseTo(5000 + 1 / 12, 10);
    expect(applyFill(q, fill('ES', 'SELL', 3, 5001), ES).realizedPnl).toBe(3 * 50 * 1 - 12.5);
  });

  it('realises on a partial close and keeps the average of what stays', () => {
    const p = run('ES', ES, ['BUY', 3, 5000], ['SELL', 1, 5002]);
    expect(p).toEqual({ symbol: 'ES', quantity: 2, averagePrice: 5000, realizedPnl: 100 });
  });

  it('goes flat on a full close', () => {
    const p = run('NQ', NQ, ['BUY', 2, 18000], ['SELL', 2, 17990.5]);
    expect(p).toEqual({ symbol: 'NQ', quantity: 0, averagePrice: 0, realizedPnl: -380 });
  });

  it('flips: closes the whole position and opens the excess at the fill price', () => {
    const p = run('ES', ES, ['BUY', 2, 5000], ['SELL', 5, 5010]);
    expect(p).toEqual({ symbol: 'ES', quantity: -3, averagePrice: 5010, realizedPnl: 1000 });
    const back = applyFill(p, fill('ES', 'BUY', 4, 5000), ES);
    expect(back).toEqual({ symbol: 'ES', quantity: 1, averagePrice: 5000, realizedPnl: 1000 + 3 * 10 * 50 });
  });

  it('accounts a short the other way round', () => {
    const p = run('ES', ES, ['SELL', 2, 5000], ['SELL', 2, 5002]);
    expect(p).toMatchObject({ quantity: -4, averagePrice: 5001 });
    expect(applyFill(p, fill('ES', 'BUY', 1, 4999), ES)).toMatchObject({ quantity: -3, averagePrice: 5001, realizedPnl: 100 });
    expect(applyFill(p, fill('ES', 'BUY', 4, 5003), ES)).toMatchObject({ quantity: 0, realizedPnl: -400 });
  });

  it('keeps CL money exact despite 0.01 ticks', () => {
    const p = run('CL', CL, ['BUY', 1, 78.51], ['BUY', 1, 78.51], ['SELL', 1, 78.52]);
    expect(p).toEqual({ symbol: 'CL', quantity: 1, averagePrice: 78.51, realizedPnl: 10 });
    const many = Array.from({ length: 100 }, () => ['BUY', 1, 78.51] as [Side, number, number]);
    expect(run('CL', CL, ...many, ['SELL', 100, 78.61]).realizedPnl).toBe(10_000);
  });

  it('refuses a fill for another symbol or without quantity', () => {
    expect(() => applyFill(flatPosition('ES'), fill('NQ', 'BUY', 1, 1), ES)).toThrow(/NQ/);
    expect(() => applyFill(flatPosition('ES'), fill('ES', 'BUY', 0, 1), ES)).toThrow(RangeError);
  });
});

describe('unrealizedPnl', () => {
  it('marks the open quantity to the last price, long and short', () => {
    expect(unrealizedPnl(run('ES', ES, ['BUY', 2, 5000]), 5001.25, ES)).toBe(125);
    expect(unrealizedPnl(run('ES', ES, ['SELL', 2, 5000]), 5001.25, ES)).toBe(-125);
    expect(unrealizedPnl(run('CL', CL, ['SELL', 3, 78.5]), 78.37, CL)).toBe(390);
    expect(unrealizedPnl(flatPosition('ES'), 1, ES)).toBe(0);
  });
});

describe('positions across symbols', () => {
  it('keeps each symbol apart with its own point value', () => {
    const fills = [
      fill('ES', 'BUY', 1, 5000),
      fill('NQ', 'SELL', 2, 18000),
      fill('CL', 'BUY', 1, 78.5),
      fill('ES', 'SELL', 1, 5004),
      fill('NQ', 'BUY', 1, 17990),
      fill('CL', 'SELL', 1, 78.25),
    ];
    const positions = positionsFromFills(fills, DEFAULT_UNIVERSE);
    expect(positions.get('ES')).toEqual({ symbol: 'ES', quantity: 0, averagePrice: 0, realizedPnl: 200 });
    expect(positions.get('NQ')).toEqual({ symbol: 'NQ', quantity: -1, averagePrice: 18000, realizedPnl: 200 });
    expect(positions.get('CL')).toEqual({ symbol: 'CL', quantity: 0, averagePrice: 0, realizedPnl: -250 });

    const last: Record<string, number> = { NQ: 17995 };
    expect(totalPnl(positions.values(), DEFAULT_UNIVERSE, (s) => last[s])).toEqual({ realized: 150, unrealized: 100, total: 250 });
  });

  it('marks nothing for a symbol without a last price, and rejects unknown symbols', () => {
    const positions = positionsFromFills([fill('ES', 'BUY', 1, 5000)], DEFAULT_UNIVERSE);
    expect(totalPnl(positions.values(), DEFAULT_UNIVERSE, () => undefined)).toEqual({ realized: 0, unrealized: 0, total: 0 });
    expect(() => positionsFromFills([fill('ZZ', 'BUY', 1, 1)], DEFAULT_UNIVERSE)).toThrow(/ZZ/);
  });
});

describe('roundMoney', () => {
  it('rounds to cents the same way on both sides of zero', () => {
    expect(roundMoney(10.000000000000853)).toBe(10);
    expect(roundMoney(2.345)).toBe(-roundMoney(-2.345));
    expect(Object.is(roundMoney(-0.001), 0)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { CL, ES } from '../instruments.ts';
import { decideMomentum, initialMomentumState, momentumParameters, type MomentumState, type Signal } from './momentum.ts';
import { strategyFor, STRATEGY_NAMES } from './index.ts';

const params = (over: Record<string, unknown> = {}) => momentumParameters.parse({ lookback: 3, thresholdTicks: 2, quantity: 1, maxPosition: 2, cooldownPrints: 0, ...over });

/** Feeds ES prices in order, applying every signal to the position as if it filled. */
function run(prices: number[], p = params(), symbol = 'ES', tickSize = ES.tickSize) {
  let state: MomentumState = initialMomentumState();
  let position = 0;
  const signals: (Signal | null)[] = [];
  prices.forEach((price, i) => {
    const out = decideMomentum(p, state, { id: String(i + 1), symbol, price }, { tickSize, position });
    state = out.state;
    if (out.signal) position += out.signal.side === 'BUY' ? out.signal.quantity : -out.signal.quantity;
    signals.push(out.signal);
  });
  return { signals, position, state };
}

const sides = (signals: (Signal | null)[]) => signals.map((s) => (s ? `${s.side}${s.quantity}` : '-'));

describe('momentum parameters', () => {
  it('fills in defaults and refuses values out of range', () => {
    expect(momentumParameters.parse({})).toEqual({ lookback: 20, thresholdTicks: 4, quantity: 1, maxPosition: 5, cooldownPrints: 10 });
    for (const bad of [{ lookback: 1 }, { lookback: 501 }, { thresholdTicks: 0 }, { quantity: 101 }, { quantity: 1.5 }, { maxPosition: 0 }, { cooldownPrints: -1 }, { lookback: '5' }]) {
      expect(momentumParameters.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('decideMomentum', () => {
  it('waits for lookback + 1 prints before deciding', () => {
    expect(sides(run([5000, 5001, 5002]).signals)).toEqual(['-', '-', '-']);
  });

  it('buys a rise of at least thresholdTicks over lookback prints, and sells a fall', () => {
    // 5000 -> 5000.5 is 2 ticks of 0.25 over 3 prints.
    const up = run([5000, 5000, 5000.25, 5000.5]);
    expect(sides(up.signals)).toEqual(['-', '-', '-', 'BUY1']);
    expect(up.signals[3]).toMatchObject({ symbol: 'ES', printId: '4' });
    expect(up.signals[3]!.reason).toBe('momentum: ES up 2 ticks over 3 prints (threshold 2) at 5000.5');
    expect(sides(run([5000, 5000, 4999.75, 4999.5]).signals)).toEqual(['-', '-', '-', 'SELL1']);
  });

  it('ignores a move below the threshold', () => {
    expect(sides(run([5000, 5000.25, 5000, 5000.25, 5000.25]).signals)).toEqual(['-', '-', '-', '-', '-']);
  });

  it('measures in the instrument ticks', () => {
    // CL ticks are 0.01: 78.50 -> 78.52 is 2 ticks.
    expect(sides(run([78.5, 78.5, 78.51, 78.52], params(), 'CL', CL.tickSize).signals).at(-1)).toBe('BUY1');
  });

  it('never goes beyond maxPosition, and trims the last order to fit', () => {
    const rising = [5000, 5000.5, 5001, 5001.5, 5002, 5002.5, 5003, 5003.5];
    const capped = run(rising, params({ quantity: 1, maxPosition: 2 }));
    expect(sides(capped.signals)).toEqual(['-', '-', '-', 'BUY1', 'BUY1', '-', '-', '-']);
    expect(capped.position).toBe(2);
    const trimmed = run(rising, params({ quantity: 3, maxPosition: 4 }));
    expect(sides(trimmed.signals)).toEqual(['-', '-', '-', 'BUY3', 'BUY1', '-', '-', '-']);
    // Short side too, and a long position leaves room to sell down to -maxPosition.
    const out = decideMomentum(params({ quantity: 5, maxPosition: 2 }), run([5000, 5000, 4999.75]).state, { id: '9', symbol: 'ES', price: 4999.5 }, { tickSize: 0.25, position: 1 });
    expect(out.signal).toMatchObject({ side: 'SELL', quantity: 3 });
  });

  it('sits out cooldownPrints prints of the symbol after a signal', () => {
    const rising = [5000, 5000.5, 5001, 5001.5, 5002, 5002.5, 5003, 5003.5];
    expect(sides(run(rising, params({ maxPosition: 10, cooldownPrints: 2 })).signals)).toEqual(['-', '-', '-', 'BUY1', '-', '-', 'BUY1', '-']);
  });

  it('keeps each symbol apart and leaves the given state unchanged', () => {
    const p = params();
    let state = initialMomentumState();
    for (const [i, [symbol, price]] of ([['ES', 5000], ['CL', 78.5], ['ES', 5000], ['CL', 78.5], ['ES', 5000.25], ['CL', 78.5]] as const).entries()) {
      state = decideMomentum(p, state, { id: String(i), symbol, price }, { tickSize: symbol === 'ES' ? 0.25 : 0.01, position: 0 }).state;
    }
    const frozen = JSON.stringify(state);
    const out = decideMomentum(p, state, { id: '99', symbol: 'ES', price: 5000.5 }, { tickSize: 0.25, position: 0 });
    expect(out.signal).toMatchObject({ symbol: 'ES', side: 'BUY' });
    expect(JSON.stringify(state)).toBe(frozen);
    expect(out.state.symbols.CL).toEqual(state.symbols.CL);
  });

  it('is deterministic: the same prints give the same signals', () => {
    const prices = Array.from({ length: 200 }, (_, i) => 5000 + 0.25 * Math.round(8 * Math.sin(i / 7) + 3 * Math.cos(i / 3)));
    const a = run(prices, params({ lookback: 5, maxPosition: 3, cooldownPrints: 3 }));
    const b = run(prices, params({ lookback: 5, maxPosition: 3, cooldownPrints: 3 }));
    expect(a.signals).toEqual(b.signals);
    expect(a.signals.filter(Boolean).length).toBeGreaterThan(2);
  });
});

describe('the strategy registry', () => {
  it('names momentum, with its schema, and nothing it does not have', () => {
    expect(STRATEGY_NAMES).toEqual(['momentum']);
    const m = strategyFor('momentum')!;
    expect(m.parameters.parse({ lookback: 3 })).toMatchObject({ lookback: 3, thresholdTicks: 4 });
    expect(strategyFor('toString')).toBeNull();
    expect(strategyFor('__proto__')).toBeNull();
    expect(strategyFor('martingale')).toBeNull();
  });
});

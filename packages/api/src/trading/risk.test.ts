import { describe, expect, it } from 'vitest';
import { DEFAULT_UNIVERSE } from './instruments.ts';
import { checkOrderRisk, type RiskContext } from './risk.ts';
import type { BrokerOrder } from './broker.ts';

const limits = { maxPositionPerSymbol: 10, maxDailyNotionalPerUser: 1_000_000, limitPriceBandPct: 5, maxOrderQuantity: 100 };

function base(over: Partial<RiskContext> = {}): RiskContext {
  return { engineState: 'running', universe: DEFAULT_UNIVERSE, limits, position: 0, dailyNotional: 0, lastPrice: 5000, ...over };
}

const ctx = base;

const market = (over: Partial<BrokerOrder> = {}): BrokerOrder => ({ type: 'market', symbol: 'ES', side: 'BUY', quantity: 1, ...over }) as BrokerOrder;
const limit = (limitPrice: number, over: Partial<BrokerOrder> = {}): BrokerOrder =>
  ({ type: 'limit', symbol: 'ES', side: 'BUY', quantity: 1, limitPrice, ...over }) as BrokerOrder;

describe('checkOrderRisk', () => {
  it('passes an order inside every limit', () => {
    expect(checkOrderRisk(market(), ctx())).toBeNull();
    expect(checkOrderRisk(limit(5000), ctx())).toBeNull();
    expect(checkOrderRisk(market({ side: 'SELL' }), ctx({ position: 10 }))).toBeNull();
  });

  it('refuses everything while the engine is stopped, before any other rule', () => {
    expect(checkOrderRisk(market({ symbol: 'ZZ', quantity: 0 }), ctx({ engineState: 'stopped' }))).toBe('engine_stopped');
  });

  it('refuses everything during a lockdown (named before a stop); a halt-exempt close passes both, and the other rules still apply', () => {
    expect(checkOrderRisk(market(), ctx({ lockdown: true }))).toBe('lockdown');
    expect(checkOrderRisk(market(), ctx({ lockdown: true, engineState: 'stopped' }))).toBe('lockdown');
    expect(checkOrderRisk(market({ side: 'SELL' }), ctx({ lockdown: true, engineState: 'stopped', position: 3, haltExempt: true }))).toBeNull();
    expect(checkOrderRisk(market({ side: 'SELL' }), ctx({ engineState: 'stopped', position: 3, haltExempt: true, lastPrice: undefined }))).toBe('no_reference_price');
  });

  it('refuses symbols outside the universe', () => {
    expect(checkOrderRisk(market({ symbol: 'ZZ' }), ctx())).toBe('symbol_not_in_universe');
    expect(checkOrderRisk(market({ symbol: 'es' }), ctx())).toBe('symbol_not_in_universe');
  });

  it('keeps quantity to whole contracts in 1..min(100, maxOrderQuantity)', () => {
    const wide = ctx({ limits: { ...limits, maxPositionPerSymbol: 1000, maxDailyNotionalPerUser: 1e12 } });
    for (const quantity of [0, -1, 1.5, 101, Number.NaN]) expect(checkOrderRisk(market({ quantity }), wide), String(quantity)).toBe('quantity_out_of_range');
    expect(checkOrderRisk(market({ quantity: 100 }), wide)).toBeNull();
    expect(checkOrderRisk(market({ quantity: 1 }), wide)).toBeNull();
    const capped = ctx({ limits: { ...wide.limits, maxOrderQuantity: 5 } });
    expect(checkOrderRisk(market({ quantity: 5 }), capped)).toBeNull();
    expect(checkOrderRisk(market({ quantity: 6 }), capped)).toBe('quantity_out_of_range');
    // Even a limit configured above the ceiling (a bad row) cannot let 101 through.
    expect(checkOrderRisk(market({ quantity: 101 }), ctx({ limits: { ...wide.limits, maxOrderQuantity: 500 } }))).toBe('quantity_out_of_range');
  });

  it('needs a last price to judge an order', () => {
    expect(checkOrderRisk(market(), ctx({ lastPrice: undefined }))).toBe('no_reference_price');
    expect(checkOrderRisk(limit(5000), ctx({ lastPrice: undefined }))).toBe('no_reference_price');
  });

  it('keeps limit prices within the band around the last price, edges included', () => {
    expect(checkOrderRisk(limit(5250), ctx())).toBeNull();
    expect(checkOrderRisk(limit(4750), ctx())).toBeNull();
    expect(checkOrderRisk(limit(5250.25), ctx())).toBe('limit_price_out_of_band');
    expect(checkOrderRisk(limit(4749.75, { side: 'SELL' }), ctx())).toBe('limit_price_out_of_band');
    expect(checkOrderRisk(limit(5400), ctx({ limits: { ...limits, limitPriceBandPct: 10 } }))).toBeNull();
    // Market orders have no price to band.
    expect(checkOrderRisk(market(), ctx({ lastPrice: 5000 }))).toBeNull();
  });

  it('caps the absolute net position per symbol, either side', () => {
    const ctx = (over: Partial<RiskContext> = {}) => base({ limits: { ...limits, maxDailyNotionalPerUser: 1e12 }, ...over });
    expect(checkOrderRisk(market({ quantity: 10 }), ctx())).toBeNull();
    expect(checkOrderRisk(market({ quantity: 11 }), ctx())).toBe('max_position_per_symbol');
    expect(checkOrderRisk(market({ quantity: 3 }), ctx({ position: 8 }))).toBe('max_position_per_symbol');
    expect(checkOrderRisk(market({ side: 'SELL', quantity: 3 }), ctx({ position: -8 }))).toBe('max_position_per_symbol');
    // Reducing an over-limit position is allowed.
    expect(checkOrderRisk(market({ side: 'SELL', quantity: 5 }), ctx({ position: 12 }))).toBeNull();
  });

  it('caps the notional a user sends per day, priced at the limit or the last price', () => {
    // ES: 5000 × 50 = 250,000 per contract.
    expect(checkOrderRisk(market({ quantity: 4 }), ctx())).toBeNull();
    expect(checkOrderRisk(market({ quantity: 1 }), ctx({ dailyNotional: 750_000 }))).toBeNull();
    expect(checkOrderRisk(market({ quantity: 1 }), ctx({ dailyNotional: 750_001 }))).toBe('max_daily_notional');
    expect(checkOrderRisk(limit(4900, { quantity: 4 }), ctx({ dailyNotional: 20_000 }))).toBeNull();
    expect(checkOrderRisk(market({ symbol: 'CL', quantity: 10 }), ctx({ lastPrice: 78.5, dailyNotional: 300_000 }))).toBe('max_daily_notional');
  });

  it('always lets an order through that only reduces the position, never one that flips it', () => {
    const spent = ctx({ position: 8, dailyNotional: limits.maxDailyNotionalPerUser });
    expect(checkOrderRisk(market({ side: 'SELL', quantity: 8 }), spent)).toBeNull();
    expect(checkOrderRisk(market({ side: 'SELL', quantity: 3 }), spent)).toBeNull();
    expect(checkOrderRisk(market({ side: 'BUY', quantity: 1 }), spent)).toBe('max_daily_notional');
    // Selling 9 against a long of 8 opens a new short: judged like any new risk.
    expect(checkOrderRisk(market({ side: 'SELL', quantity: 9 }), spent)).toBe('max_daily_notional');
    // The engine, universe, size and band rules still apply to reductions.
    expect(checkOrderRisk(market({ side: 'SELL', quantity: 3 }), ctx({ position: 8, engineState: 'stopped' }))).toBe('engine_stopped');
    expect(checkOrderRisk(market({ side: 'BUY', quantity: 2 }), ctx({ position: -12 }))).toBeNull();
  });
});

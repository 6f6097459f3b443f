import { describe, expect, it } from 'vitest';
import {
  assertValidUniverse,
  CL,
  DEFAULT_UNIVERSE,
  ES,
  findInstrument,
  formatPrice,
  isOnTick,
  NQ,
  priceToTicks,
  roundToTick,
  tickDecimals,
  ticksToPrice,
} from './instruments.ts';

describe('the default universe', () => {
  it('holds ES, NQ and CL with their exchange tick sizes and point values', () => {
    expect(DEFAULT_UNIVERSE.map((i) => [i.symbol, i.tickSize, i.pointValue])).toEqual([
      ['ES', 0.25, 50],
      ['NQ', 0.25, 20],
      ['CL', 0.01, 1000],
    ]);
    expect(() => assertValidUniverse(DEFAULT_UNIVERSE)).not.toThrow();
    expect(findInstrument(DEFAULT_UNIVERSE, 'NQ')).toBe(NQ);
    expect(findInstrument(DEFAULT_UNIVERSE, 'ZZ')).toBeUndefined();
  });

  it('cannot be changed by a consumer', () => {
    expect(Object.isFrozen(DEFAULT_UNIVERSE)).toBe(true);
    expect(Object.isFrozen(ES)).toBe(true);
  });
});

describe('price helpers', () => {
  it('counts the decimals a tick size needs', () => {
    expect(tickDecimals(0.25)).toBe(2);
    expect(tickDecimals(0.01)).toBe(2);
    expect(tickDecimals(0.1)).toBe(1);
    expect(tickDecimals(1)).toBe(0);
    expect(tickDecimals(0.03125)).toBe(5);
  });

  it('converts between prices and ticks without float drift', () => {
    expect(priceToTicks(78.07, CL.tickSize)).toBe(7807);
    expect(7807 * 0.01).not.toBe(78.07); // the drift the helpers exist to avoid
    expect(ticksToPrice(7807, CL.tickSize)).toBe(78.07);
    let ticks = priceToTicks(CL.startPrice, CL.tickSize);
    for (let k = 0; k < 1000; k++) ticks += 1;
    expect(ticksToPrice(ticks, CL.tickSize)).toBe(88.5);
  });

  it('rounds to the nearest tick and tells on-tick prices apart', () => {
    expect(roundToTick(5000.13, ES.tickSize)).toBe(5000.25);
    expect(roundToTick(5000.12, ES.tickSize)).toBe(5000);
    expect(roundToTick(0.1 + 0.2, 0.1)).toBe(0.3);
    expect(isOnTick(5000.25, ES.tickSize)).toBe(true);
    expect(isOnTick(5000.1, ES.tickSize)).toBe(false);
    expect(isOnTick(78.51, CL.tickSize)).toBe(true);
    expect(isOnTick(78.515, CL.tickSize)).toBe(false);
    expect(isOnTick(Number.NaN, CL.tickSize)).toBe(false);
  });

  it('formats with the decimals of the tick size', () => {
    expect(formatPrice(5000, ES.tickSize)).toBe('5000.00');
    expect(formatPrice(78.5, CL.tickSize)).toBe('78.50');
  });
});

describe('assertValidUniverse', () => {
  const base = { symbol: 'X', name: 'X', tickSize: 0.5, pointValue: 10, startPrice: 100 };

  it('rejects what the price maths cannot handle', () => {
    expect(() => assertValidUniverse([])).toThrow(/empty/);
    expect(() => assertValidUniverse([base, base])).toThrow(/duplicate/);
    expect(() => assertValidUniverse([{ ...base, tickSize: 0 }])).toThrow(/positive/);
    expect(() => assertValidUniverse([{ ...base, pointValue: -1 }])).toThrow(/positive/);
    expect(() => assertValidUniverse([{ ...base, startPrice: 100.2 }])).toThrow(/on tick/);
    expect(() => assertValidUniverse([{ ...base, startPrice: 0 }])).toThrow(/positive/);
  });
});

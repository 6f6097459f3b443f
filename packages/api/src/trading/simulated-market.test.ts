import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_UNIVERSE, findInstrument, isOnTick, priceToTicks, type Instrument } from './instruments.ts';
import type { Print } from './market-data.ts';
import { createSimulatedMarket, type SimulatedMarketOptions, type Timers } from './simulated-market.ts';

const fixedClock = { now: () => new Date('2025-01-02T14:30:00.000Z') };
const market = (options: Partial<SimulatedMarketOptions> = {}) =>
  createSimulatedMarket({ seed: 42, printsPerSecond: 10, clock: fixedClock, ...options });

describe('the simulated tape', () => {
  it('is the same for the same seed and different for another', () => {
    const a = market({ seed: 7 }).step(500);
    const b = market({ seed: 7 }).step(500);
    const c = market({ seed: 8 }).step(500);
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
  });

  it('prints only on tick, walks at most maxStepTicks per print, sizes within 1..maxSize', () => {
    const m = market({ maxSize: 5, maxStepTicks: 2 });
    const previous = new Map(DEFAULT_UNIVERSE.map((i) => [i.symbol, priceToTicks(i.startPrice, i.tickSize)]));
    for (const p of m.step(5000)) {
      const instrument = findInstrument(DEFAULT_UNIVERSE, p.symbol)!;
      expect(isOnTick(p.price, instrument.tickSize)).toBe(true);
      const ticks = priceToTicks(p.price, instrument.tickSize);
      expect(Math.abs(ticks - previous.get(p.symbol)!)).toBeLessThanOrEqual(2);
      previous.set(p.symbol, ticks);
      expect(Number.isInteger(p.size) && p.size >= 1 && p.size <= 5).toBe(true);
    }
  });

  it('marks upticks as buyer-initiated and downticks as seller-initiated', () => {
    const last = new Map<string, number>();
    const sides = new Set<string>();
    for (const p of market().step(2000)) {
      const before = last.get(p.symbol);
      if (before !== undefined && p.price > before) expect(p.side).toBe('BUY');
      if (before !== undefined && p.price < before) expect(p.side).toBe('SELL');
      last.set(p.symbol, p.price);
      sides.add(p.side);
    }
    expect(sides).toEqual(new Set(['BUY', 'SELL']));
  });

  it('numbers prints 1, 2, 3… across symbols and stamps them with the clock', () => {
    const m = market();
    const prints = [...m.step(3), ...m.step(300)];
    expect(prints.map((p) => p.seq)).toEqual(Array.from({ length: 303 }, (_, k) => k + 1));
    expect(new Set(prints.map((p) => p.symbol))).toEqual(new Set(['ES', 'NQ', 'CL']));
    expect(prints[0]!.at).toBe('2025-01-02T14:30:00.000Z');
  });

  it('uses the universe it is given', () => {
    const only: Instrument = { symbol: 'GC', name: 'Gold', tickSize: 0.1, pointValue: 100, startPrice: 2000 };
    const m = market({ universe: [only] });
    expect(m.universe()).toEqual([only]);
    expect(m.step(50).every((p) => p.symbol === 'GC' && isOnTick(p.price, 0.1))).toBe(true);
  });

  it('has no last price before a symbol prints, then the latest print', () => {
    const m = market();
    expect(m.lastPrice('ES')).toBeUndefined();
    expect(m.lastPrice('ZZ')).toBeUndefined();
    const prints = m.step(100);
    for (const symbol of ['ES', 'NQ', 'CL']) {
      const latest = prints.filter((p) => p.symbol === symbol).at(-1)!;
      expect(m.lastPrint(symbol)).toBe(latest);
      expect(m.lastPrice(symbol)).toBe(latest.price);
    }
  });

  it('notifies listeners until they unsubscribe', () => {
    const m = market();
    const seen: Print[] = [];
    const off = m.onPrint((p) => seen.push(p));
    const first = m.step(5);
    off();
    m.step(5);
    expect(seen).toEqual(first);
  });

  it('rejects options it cannot honour', () => {
    expect(() => market({ seed: 1.5 })).toThrow(/seed/);
    expect(() => market({ printsPerSecond: 0 })).toThrow(/printsPerSecond/);
    expect(() => market({ printsPerSecond: Number.POSITIVE_INFINITY })).toThrow(/printsPerSecond/);
    expect(() => market({ maxSize: 0 })).toThrow(/maxSize/);
    expect(() => market({ universe: [] })).toThrow(/empty/);
    expect(() => market().step(-1)).toThrow(RangeError);
  });
});

describe('the simulated market on a timer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2025-01-02T14:30:00.000Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const countOver = (printsPerSecond: number, ms: number) => {
    const m = createSimulatedMarket({ seed: 1, printsPerSecond });
    let count = 0;
    m.onPrint(() => count++);
    m.start();
    vi.advanceTimersByTime(ms);
    m.stop();
    return count;
  };

  it('prints at the configured rate, slow or fast', () => {
    expect(countOver(10, 1000)).toBe(10);
    expect(countOver(10, 3500)).toBe(35);
    expect(countOver(0.5, 4000)).toBe(2);
    // Above 100 a second prints come in batches, still adding up to the rate.
    expect(countOver(250, 1000)).toBe(250);
    expect(countOver(5000, 2000)).toBe(10_000);
  });

  it('stamps timer prints with the time they happen', () => {
    const m = createSimulatedMarket({ seed: 1, printsPerSecond: 2 });
    const times: string[] = [];
    m.onPrint((p) => times.push(p.at));
    m.start();
    vi.advanceTimersByTime(1000);
    m.stop();
    expect(times).toEqual(['2025-01-02T14:30:00.500Z', '2025-01-02T14:30:01.000Z']);
  });

  it('stops printing when stopped, and starting twice does not double the rate', () => {
    const m = createSimulatedMarket({ seed: 1, printsPerSecond: 10 });
    let count = 0;
    m.onPrint(() => count++);
    expect(m.running).toBe(false);
    m.start();
    m.start();
    expect(m.running).toBe(true);
    vi.advanceTimersByTime(1000);
    m.stop();
    m.stop();
    expect(m.running).toBe(false);
    vi.advanceTimersByTime(5000);
    expect(count).toBe(10);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('makes the same tape on a timer as by step', () => {
    const timed = createSimulatedMarket({ seed: 3, printsPerSecond: 20 });
    const tape: Print[] = [];
    timed.onPrint((p) => tape.push(p));
    timed.start();
    vi.advanceTimersByTime(1000);
    timed.stop();
    const stepped = createSimulatedMarket({ seed: 3, printsPerSecond: 20 }).step(20);
    expect(tape.map(({ at: _at, ...p }) => p)).toEqual(stepped.map(({ at: _at, ...p }) => p));
  });
});

describe('injected timers', () => {
  it('are used instead of the global ones', () => {
    let callback: (() => void) | undefined;
    const timers: Timers = {
      setInterval: vi.fn((cb: () => void) => {
        callback = cb;
        return 'handle';
      }),
      clearInterval: vi.fn(),
    };
    const m = market({ printsPerSecond: 4, timers });
    const seen: Print[] = [];
    m.onPrint((p) => seen.push(p));
    m.start();
    expect(timers.setInterval).toHaveBeenCalledWith(expect.any(Function), 250);
    callback!();
    callback!();
    expect(seen).toHaveLength(2);
    m.stop();
    expect(timers.clearInterval).toHaveBeenCalledWith('handle');
  });
});

import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { systemClock, type Clock } from '../deps.ts';
import { assertValidUniverse, DEFAULT_UNIVERSE, priceToTicks, ticksToPrice, type Instrument } from './instruments.ts';
import { createListeners } from './listeners.ts';
import type { MarketData, Print, Side } from './market-data.ts';

/** The two timer calls the simulator makes; injectable so a test can drive time itself. */
export interface Timers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

// Looked up on each call, not captured at import, so vi.useFakeTimers() installed later still applies.
const globalTimers: Timers = {
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

export interface SimulatedMarketOptions {
  universe?: readonly Instrument[];
  /** Same seed and universe, same tape. */
  seed: number;
  printsPerSecond: number;
  /** Print sizes are drawn uniformly from 1..maxSize. Default 10. */
  maxSize?: number;
  /** Largest move between two prints of a symbol, in ticks. Default 1. */
  maxStepTicks?: number;
  clock?: Clock;
  timers?: Timers;
}

export interface SimulatedMarket extends MarketData {
  /** Generates n prints now, without timers, and returns them (listeners are notified too). */
  step(n?: number): Print[];
}

// Node cannot honour sub-millisecond intervals and waking 1000 times a second wastes CPU, so above
// this many wake-ups a second the timer fires at this rate and emits several prints per wake-up.
const MAX_WAKEUPS_PER_SECOND = 100;

export function createSimulatedMarket(options: SimulatedMarketOptions): SimulatedMarket {
  const universe = [...(options.universe ?? DEFAULT_UNIVERSE)];
  const { seed, printsPerSecond, maxSize = 10, maxStepTicks = 1 } = options;
  const clock = options.clock ?? systemClock;
  const timers = options.timers ?? globalTimers;
  assertValidUniverse(universe);
  if (!Number.isSafeInteger(seed)) throw new RangeError('seed must be an integer');
  if (!(printsPerSecond > 0) || !Number.isFinite(printsPerSecond)) throw new RangeError('printsPerSecond must be positive');
  if (!Number.isInteger(maxSize) || maxSize < 1) throw new RangeError('maxSize must be an integer ≥ 1');
  if (!Number.isInteger(maxStepTicks) || maxStepTicks < 0) throw new RangeError('maxStepTicks must be an integer ≥ 0');

  const rng = xoroshiro128plus(seed);
  const ticks = universe.map((i) => priceToTicks(i.startPrice, i.tickSize));
  const last = new Map<string, Print>();
  const listeners = createListeners<Print>();
  let seq = 0;

  function nextPrint(): Print {
    const index = uniformInt(rng, 0, universe.length - 1);
    const instrument = universe[index]!;
    const move = uniformInt(rng, -maxStepTicks, maxStepTicks);
    // Floor at one tick: a walk left alone long enough would otherwise reach zero or below.
    const at = Math.max(1, ticks[index]! + move);
    ticks[index] = at;
    const size = uniformInt(rng, 1, maxSize);
    // The tick rule: an uptick is buyers lifting offers, a downtick sellers hitting bids.
    const side: Side = move > 0 ? 'BUY' : move < 0 ? 'SELL' : uniformInt(rng, 0, 1) === 0 ? 'BUY' : 'SELL';
    return Object.freeze({
      seq: ++seq,
      at: clock.now().toISOString(),
      symbol: instrument.symbol,
      price: ticksToPrice(at, instrument.tickSize),
      size,
      side,
    });
  }

  function step(n = 1): Print[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError('n must be a non-negative integer');
    const prints: Print[] = [];
    for (let k = 0; k < n; k++) {
      const print = nextPrint();
      last.set(print.symbol, print);
      prints.push(print);
      listeners.emit(print);
    }
    return prints;
  }

  const wakeupsPerSecond = Math.min(printsPerSecond, MAX_WAKEUPS_PER_SECOND);
  let handle: unknown;
  let wakeups = 0;
  let emitted = 0;

  function onWakeup() {
    wakeups++;
    // Owed prints are counted from the start, not accumulated per wake-up, so fractions never drift.
    const due = Math.floor((wakeups * printsPerSecond) / wakeupsPerSecond);
    const n = due - emitted;
    emitted = due;
    step(n);
  }

  return {
    universe: () => [...universe],
    lastPrice: (symbol) => last.get(symbol)?.price,
    lastPrint: (symbol) => last.get(symbol),
    onPrint: (listener) => listeners.add(listener),
    step,
    start() {
      if (handle !== undefined) return;
      wakeups = 0;
      emitted = 0;
      handle = timers.setInterval(onWakeup, 1000 / wakeupsPerSecond);
    },
    stop() {
      if (handle === undefined) return;
      timers.clearInterval(handle);
      handle = undefined;
    },
    get running() {
      return handle !== undefined;
    },
  };
}

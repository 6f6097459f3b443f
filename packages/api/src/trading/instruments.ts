/** A tradable contract. Prices are in the instrument's quote units; money is `points × pointValue`. */
export interface Instrument {
  readonly symbol: string;
  readonly name: string;
  /** Smallest price increment; every price the system produces is a whole number of these. */
  readonly tickSize: number;
  /** Currency per one full point of price, per contract. */
  readonly pointValue: number;
  /** Where the simulator's random walk begins. */
  readonly startPrice: number;
}

// Contract specs as the CME lists them; start prices are merely plausible.
export const ES: Instrument = Object.freeze({ symbol: 'ES', name: 'E-mini S&P 500', tickSize: 0.25, pointValue: 50, startPrice: 5000 });
export const NQ: Instrument = Object.freeze({ symbol: 'NQ', name: 'E-mini Nasdaq-100', tickSize: 0.25, pointValue: 20, startPrice: 18000 });
export const CL: Instrument = Object.freeze({ symbol: 'CL', name: 'Crude Oil', tickSize: 0.01, pointValue: 1000, startPrice: 78.5 });

export const DEFAULT_UNIVERSE: readonly Instrument[] = Object.freeze([ES, NQ, CL]);

/** Decimal places needed to write any multiple of `tickSize` (0.25 → 2, 0.01 → 2, 1 → 0). */
export function tickDecimals(tickSize: number): number {
  for (let d = 0; d <= 12; d++) if (Number(tickSize.toFixed(d)) === tickSize) return d;
  return 12;
}

/** The nearest whole number of ticks; prices are stored as floats, arithmetic is done on these integers. */
export function priceToTicks(price: number, tickSize: number): number {
  return Math.round(price / tickSize);
}

/**
 * Back from ticks to a price. Going through the decimal string makes 7807 × 0.01 the same double as
 * the literal 78.07 (not 78.07000000000001), so prices compare equal however they were reached.
 */
export function ticksToPrice(ticks: number, tickSize: number): number {
  return Number((ticks * tickSize).toFixed(tickDecimals(tickSize)));
}

export function roundToTick(price: number, tickSize: number): number {
  return ticksToPrice(priceToTicks(price, tickSize), tickSize);
}

export function isOnTick(price: number, tickSize: number): boolean {
  return Number.isFinite(price) && roundToTick(price, tickSize) === price;
}

/** Fixed decimals for the tick size, so a column of ES prices lines up: "5000.00", "5000.25". */
export function formatPrice(price: number, tickSize: number): string {
  return price.toFixed(tickDecimals(tickSize));
}

export function findInstrument(universe: readonly Instrument[], symbol: string): Instrument | undefined {
  return universe.find((i) => i.symbol === symbol);
}

/** Throws on a universe the price maths cannot work with; called where a universe is accepted. */
export function assertValidUniverse(universe: readonly Instrument[]): void {
  if (universe.length === 0) throw new RangeError('universe is empty');
  const seen = new Set<string>();
  for (const i of universe) {
    if (seen.has(i.symbol)) throw new RangeError(`duplicate symbol ${i.symbol}`);
    seen.add(i.symbol);
    if (!(i.tickSize > 0) || !(i.pointValue > 0)) throw new RangeError(`${i.symbol}: tick size and point value must be positive`);
    if (!(i.startPrice > 0) || !isOnTick(i.startPrice, i.tickSize)) {
      throw new RangeError(`${i.symbol}: start price must be positive and on tick`);
    }
  }
}

import type { Fill } from './broker.ts';
import { findInstrument, priceToTicks, ticksToPrice, type Instrument } from './instruments.ts';

/** A net position, average-cost method. Values, not objects to mutate: every change returns a new one. */
export interface Position {
  readonly symbol: string;
  /** Signed contracts: positive long, negative short, 0 flat. */
  readonly quantity: number;
  /** Average entry price of the open quantity; 0 when flat. May fall between ticks. */
  readonly averagePrice: number;
  /** Currency realised so far, in cents-rounded units. */
  readonly realizedPnl: number;
}

export type PositionFill = Pick<Fill, 'symbol' | 'side' | 'price' | 'quantity'>;
type Contract = Pick<Instrument, 'tickSize' | 'pointValue'>;

export function flatPosition(symbol: string): Position {
  return { symbol, quantity: 0, averagePrice: 0, realizedPnl: 0 };
}

// Statements are in cents; rounding each amount keeps float noise (78.52 − 78.51) out of the totals.
// Symmetric, so a loss rounds like the same-sized gain.
export function roundMoney(amount: number): number {
  return (Math.sign(amount) * Math.round(Math.abs(amount) * 100)) / 100 || 0;
}

/** A price in ticks, which an average may not be a whole number of; snaps float noise (7850.999…) to the tick. */
function ticksOf(price: number, tickSize: number): number {
  const raw = price / tickSize;
  const whole = Math.round(raw);
  return Math.abs(raw - whole) < 1e-6 ? whole : raw;
}

/** Currency made by `quantity` (signed) contracts moving from `fromPrice` to `toPrice`; works in ticks. */
function moneyFor(quantity: number, fromPrice: number, toPrice: number, c: Contract): number {
  const ticks = priceToTicks(toPrice, c.tickSize) - ticksOf(fromPrice, c.tickSize);
  return roundMoney(ticks * quantity * c.tickSize * c.pointValue);
}

function averageOf(ticks: number, tickSize: number): number {
  // A whole-tick average goes through ticksToPrice so it equals the literal (78.07, not 78.07000000000001).
  return Number.isInteger(ticks) ? ticksToPrice(ticks, tickSize) : ticks * tickSize;
}

/** The position after one fill: adds to, reduces, closes or flips it. */
export function applyFill(position: Position, fill: PositionFill, contract: Contract): Position {
  if (fill.symbol !== position.symbol) throw new Error(`fill for ${fill.symbol} applied to ${position.symbol}`);
  if (!(fill.quantity > 0)) throw new RangeError('fill quantity must be positive');
  const signed = fill.side === 'BUY' ? fill.quantity : -fill.quantity;
  const { quantity, averagePrice, realizedPnl } = position;

  if (quantity === 0 || Math.sign(quantity) === Math.sign(signed)) {
    const total = quantity + signed;
    const ticks =
      ticksOf(averagePrice, contract.tickSize) * Math.abs(quantity) + priceToTicks(fill.price, contract.tickSize) * fill.quantity;
    return { ...position, quantity: total, averagePrice: averageOf(ticks / Math.abs(total), contract.tickSize) };
  }

  // Reducing: the closed part realises against the average; the average of what stays is unchanged.
  const closed = Math.min(Math.abs(quantity), fill.quantity) * Math.sign(quantity);
  const realized = roundMoney(realizedPnl + moneyFor(closed, averagePrice, fill.price, contract));
  const remaining = quantity + signed;
  if (remaining === 0) return { ...position, quantity: 0, averagePrice: 0, realizedPnl: realized };
  if (Math.sign(remaining) === Math.sign(quantity)) return { ...position, quantity: remaining, realizedPnl: realized };
  // Flipped: the excess opens a new position at the fill price.
  return { ...position, quantity: remaining, averagePrice: fill.price, realizedPnl: realized };
}

/** Currency the open quantity would realise if closed at `lastPrice`. */
export function unrealizedPnl(position: Position, lastPrice: number, contract: Contract): number {
  return position.quantity === 0 ? 0 : moneyFor(position.quantity, position.averagePrice, lastPrice, contract);
}

/** Positions by symbol from fills in the order they happened. Throws on a symbol outside the universe. */
export function positionsFromFills(fills: Iterable<PositionFill>, universe: readonly Instrument[]): Map<string, Position> {
  const positions = new Map<string, Position>();
  for (const fill of fills) {
    const instrument = findInstrument(universe, fill.symbol);
    if (!instrument) throw new Error(`unknown symbol ${fill.symbol}`);
    positions.set(fill.symbol, applyFill(positions.get(fill.symbol) ?? flatPosition(fill.symbol), fill, instrument));
  }
  return positions;
}

export interface PnlTotals {
  readonly realized: number;
  readonly unrealized: number;
  readonly total: number;
}

/**
 * Account totals in one currency. An open position without a last price adds nothing to
 * `unrealized`: there is no price to mark it at, and guessing one would be worse.
 */
export function totalPnl(
  positions: Iterable<Position>,
  universe: readonly Instrument[],
  lastPrice: (symbol: string) => number | undefined,
): PnlTotals {
  let realized = 0;
  let unrealized = 0;
  for (const position of positions) {
    const instrument = findInstrument(universe, position.symbol);
    if (!instrument) throw new Error(`unknown symbol ${position.symbol}`);
    realized += position.realizedPnl;
    const price = lastPrice(position.symbol);
    if (price !== undefined) unrealized += unrealizedPnl(position, price, instrument);
  }
  realized = roundMoney(realized);
  unrealized = roundMoney(unrealized);
  return { realized, unrealized, total: roundMoney(realized + unrealized) };
}

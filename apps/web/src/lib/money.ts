import type { UniverseInstrument } from '@tapevision/api/schemas';

/** Decimal places that write any multiple of the tick size (0.25 → 2, 0.01 → 2, 1 → 0). */
export function tickDecimals(tickSize: number): number {
  for (let d = 0; d <= 8; d++) if (Number(tickSize.toFixed(d)) === tickSize) return d;
  return 8;
}

/** A price with the decimals of its instrument's tick, so a column of prices lines up. */
export function formatPrice(price: number | null | undefined, instrument: Pick<UniverseInstrument, 'tickSize'> | undefined): string {
  if (price === null || price === undefined || !Number.isFinite(price)) return '—';
  return price.toFixed(instrument ? tickDecimals(instrument.tickSize) : 2);
}

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** Profit and loss in dollars, with an explicit sign: "+$1,250.00", "-$75.00". */
export function formatPnl(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  if (rounded === 0) return money.format(0);
  return `${rounded > 0 ? '+' : '-'}${money.format(Math.abs(rounded))}`;
}

export function pnlClass(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return rounded > 0 ? 'pnl pnl-up' : rounded < 0 ? 'pnl pnl-down' : 'pnl';
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** A trading-day time to the second: "14:03:27". */
export function formatClock(iso: string | number): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '—' : clock.format(date);
}

export function instrumentOf(universe: readonly UniverseInstrument[] | undefined, symbol: string): UniverseInstrument | undefined {
  return universe?.find((i) => i.symbol === symbol);
}

import type { RiskLimits } from '../schemas/system.ts';
import { MAX_ORDER_QUANTITY_CEILING } from '../schemas/system.ts';
import type { BrokerOrder } from './broker.ts';
import { findInstrument, type Instrument } from './instruments.ts';

/** The rules an order must pass before it reaches a broker, in the order they are checked. */
export const RISK_RULES = [
  'lockdown',
  'engine_stopped',
  'symbol_not_in_universe',
  'quantity_out_of_range',
  'no_reference_price',
  'limit_price_out_of_band',
  'max_position_per_symbol',
  'max_daily_notional',
] as const;

export type RiskRule = (typeof RISK_RULES)[number];

export interface RiskContext {
  engineState: 'running' | 'stopped';
  /** An emergency lockdown holds (security.lockdown). */
  lockdown?: boolean;
  /**
   * A reduce-only close by an admin, or the kill switch: it goes through a stop and a lockdown,
   * because getting flat must stay possible when opening is refused.
   */
  haltExempt?: boolean;
  universe: readonly Instrument[];
  limits: RiskLimits;
  /** The user's signed net position in the order's symbol (long > 0), before this order. */
  position: number;
  /** Notional the user has already sent today, in currency. */
  dailyNotional: number;
  /** The symbol's last traded price, if there has been one. */
  lastPrice: number | undefined;
}

/**
 * The first rule the order breaks, or null when it may go. Pure: the caller gathers the context
 * (state, limits, position, today's notional, last price) and acts on the answer.
 */
export function checkOrderRisk(order: BrokerOrder, ctx: RiskContext): RiskRule | null {
  if (!ctx.haltExempt) {
    if (ctx.lockdown) return 'lockdown';
    if (ctx.engineState !== 'running') return 'engine_stopped';
  }
  const instrument = findInstrument(ctx.universe, order.symbol);
  if (!instrument) return 'symbol_not_in_universe';
  const maxQty = Math.min(ctx.limits.maxOrderQuantity, MAX_ORDER_QUANTITY_CEILING);
  if (!Number.isInteger(order.quantity) || order.quantity < 1 || order.quantity > maxQty) return 'quantity_out_of_range';
  const last = ctx.lastPrice;
  // Without a last price neither the band nor a market order's notional can be judged: refuse
  // rather than guess.
  if (last === undefined || !Number.isFinite(last) || last <= 0) return 'no_reference_price';
  if (order.type === 'limit') {
    const bandPct = (Math.abs(order.limitPrice - last) / last) * 100;
    // A hair of tolerance so a price exactly on the band edge is not lost to float rounding.
    if (!Number.isFinite(order.limitPrice) || bandPct > ctx.limits.limitPriceBandPct + 1e-9) return 'limit_price_out_of_band';
  }
  const signed = order.side === 'BUY' ? order.quantity : -order.quantity;
  const after = Math.abs(ctx.position + signed);
  // An order that only shrinks the position always may go: the limits exist to cap risk, and
  // refusing its reduction (a close at the end of a busy day) would only keep risk on.
  if (after < Math.abs(ctx.position) && Math.sign(ctx.position + signed) !== -Math.sign(ctx.position)) return null;
  if (after > ctx.limits.maxPositionPerSymbol) return 'max_position_per_symbol';
  const price = order.type === 'limit' ? order.limitPrice : last;
  const notional = price * instrument.pointValue * order.quantity;
  if (ctx.dailyNotional + notional > ctx.limits.maxDailyNotionalPerUser) return 'max_daily_notional';
  return null;
}

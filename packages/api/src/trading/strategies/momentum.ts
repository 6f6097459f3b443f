import { z } from 'zod';
import { priceToTicks } from '../instruments.ts';
import type { Side } from '../market-data.ts';

/**
 * Momentum on the tape: when a symbol's price has moved at least `thresholdTicks` over its last
 * `lookback` prints, trade in the direction of the move, never beyond `maxPosition` either way,
 * then sit out `cooldownPrints` prints of that symbol. Counting prints rather than time keeps it
 * deterministic: the same prints give the same signals on any process, at any speed.
 */
export const momentumParameters = z.object({
  /** Prints of the symbol the move is measured over. */
  lookback: z.number().int().min(2).max(500).default(20),
  /** Smallest move, in ticks of the instrument, that triggers a trade. */
  thresholdTicks: z.number().int().min(1).max(10_000).default(4),
  /** Contracts per order. */
  quantity: z.number().int().min(1).max(100).default(1),
  /** Largest net position, long or short, the bot builds per symbol. */
  maxPosition: z.number().int().min(1).max(1_000).default(5),
  /** Prints of the symbol ignored after a signal. */
  cooldownPrints: z.number().int().min(0).max(100_000).default(10),
});

export type MomentumParameters = z.output<typeof momentumParameters>;

export interface StrategyPrint {
  id: string;
  symbol: string;
  price: number;
}

export interface Signal {
  symbol: string;
  side: Side;
  quantity: number;
  /** Why, in words: kept with the order and in the audit log. */
  reason: string;
  /** The print that triggered it. */
  printId: string;
}

interface SymbolState {
  /** Up to lookback + 1 most recent prices, in ticks, oldest first. */
  ticks: number[];
  /** Prints still to skip after the last signal. */
  cooldown: number;
}

export interface MomentumState {
  symbols: Record<string, SymbolState>;
}

export function initialMomentumState(): MomentumState {
  return { symbols: {} };
}

export interface DecideContext {
  tickSize: number;
  /** The bot's own net position in the symbol now (long > 0). */
  position: number;
}

/** Pure: the next state and, maybe, a signal. The caller's state object is not changed. */
export function decideMomentum(
  params: MomentumParameters,
  state: MomentumState,
  print: StrategyPrint,
  ctx: DecideContext,
): { state: MomentumState; signal: Signal | null } {
  const prev = state.symbols[print.symbol] ?? { ticks: [], cooldown: 0 };
  const ticks = [...prev.ticks, priceToTicks(print.price, ctx.tickSize)].slice(-(params.lookback + 1));
  const next = (s: SymbolState) => ({ symbols: { ...state.symbols, [print.symbol]: s } });

  if (prev.cooldown > 0) return { state: next({ ticks, cooldown: prev.cooldown - 1 }), signal: null };
  if (ticks.length <= params.lookback) return { state: next({ ticks, cooldown: 0 }), signal: null };

  const move = (ticks.at(-1) as number) - (ticks[0] as number);
  let side: Side | null = null;
  let room = 0;
  if (move >= params.thresholdTicks) {
    side = 'BUY';
    room = params.maxPosition - ctx.position;
  } else if (move <= -params.thresholdTicks) {
    side = 'SELL';
    room = params.maxPosition + ctx.position;
  }
  const quantity = Math.min(params.quantity, room);
  if (side === null || quantity <= 0) return { state: next({ ticks, cooldown: 0 }), signal: null };

  const direction = move > 0 ? 'up' : 'down';
  return {
    state: next({ ticks, cooldown: params.cooldownPrints }),
    signal: {
      symbol: print.symbol,
      side,
      quantity,
      printId: print.id,
      reason: `momentum: ${print.symbol} ${direction} ${Math.abs(move)} ticks over ${params.lookback} prints (threshold ${params.thresholdTicks}) at ${print.price}`,
    },
  };
}

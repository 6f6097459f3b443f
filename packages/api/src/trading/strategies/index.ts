import type { z } from 'zod';
import { decideMomentum, initialMomentumState, momentumParameters, type DecideContext, type Signal, type StrategyPrint } from './momentum.ts';

export type { DecideContext, Signal, StrategyPrint } from './momentum.ts';
export { decideMomentum, initialMomentumState, momentumParameters, type MomentumParameters, type MomentumState } from './momentum.ts';

/**
 * A strategy as the bot runner drives it: its parameters' schema (browser-safe, the SPA's form
 * uses it) and a pure step from a print to the next state and, maybe, a signal.
 */
export interface Strategy<P, S> {
  name: string;
  description: string;
  /** Validates the strategy's own parameters and fills in defaults; other keys pass through untouched. */
  parameters: z.ZodType<P>;
  init(): S;
  decide(params: P, state: S, print: StrategyPrint, ctx: DecideContext): { state: S; signal: Signal | null };
}

/** A strategy with its types erased, as the registry holds it: `decide` gets what `parameters` parsed. */
export type AnyStrategy = Strategy<unknown, unknown>;

function defineStrategy<P, S>(strategy: Strategy<P, S>): AnyStrategy {
  return strategy as unknown as AnyStrategy;
}

export const STRATEGY_NAMES = ['momentum'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

export const STRATEGIES: Readonly<Record<StrategyName, AnyStrategy>> = Object.freeze({
  momentum: defineStrategy({
    name: 'momentum',
    description: 'Trades in the direction of a move of at least thresholdTicks over the last lookback prints of a symbol.',
    parameters: momentumParameters,
    init: initialMomentumState,
    decide: decideMomentum,
  }),
});

export function strategyFor(name: string): AnyStrategy | null {
  return Object.hasOwn(STRATEGIES, name) ? STRATEGIES[name as StrategyName] : null;
}

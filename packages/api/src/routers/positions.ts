import { closePositionInput, flattenAllInput, listPositionsInput } from '../schemas/trading.ts';
import { flattenAllPositions } from '../services/kill-switch.ts';
import { closePosition } from '../services/position-close.ts';
import { listPositions } from '../services/trading-queries.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { accountReaderOf, tradingActorOf } from './trading.ts';

export const positionsRouter = router({
  /** Own positions (every account's with accounts.view), marked at the last prices, with P&L. */
  list: permissionProcedure('trading.view')
    .input(listPositionsInput)
    .query(({ ctx, input }) => listPositions(ctx.deps, accountReaderOf(ctx), input)),

  /**
   * Flattens one's own position, reduce-only, in as many market orders as maxOrderQuantity takes.
   * Spends the risk-reducing budget, never the order budget: a busy trader can always get flat.
   * An admin's (security.manage) close also goes through a stop and a lockdown; anyone else's is refused then.
   */
  close: permissionProcedure('positions.manage', { rateLimit: 'trading.reduce' })
    .input(closePositionInput)
    .mutation(({ ctx, input }) => closePosition(ctx.deps, tradingActorOf(ctx), input, { haltExempt: ctx.principal.permissions.has('security.manage') })),

  /**
   * The kill switch's second half: reduce-only market closes of every open position of one's own
   * account, or (security.manage) the given one or every account. Works during a stop and a lockdown.
   */
  flattenAll: permissionProcedure('positions.manage', { rateLimit: 'trading.reduce' })
    .input(flattenAllInput)
    .mutation(({ ctx, input }) => flattenAllPositions(ctx.deps, { actor: tradingActorOf(ctx), permissions: ctx.principal.permissions }, input)),
});

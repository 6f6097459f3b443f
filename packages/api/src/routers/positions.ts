import { closePositionInput, listPositionsInput } from '../schemas/trading.ts';
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
   */
  close: permissionProcedure('positions.manage', { rateLimit: 'trading.reduce' })
    .input(closePositionInput)
    .mutation(({ ctx, input }) => closePosition(ctx.deps, tradingActorOf(ctx), input)),
});

import { closePositionInput, listPositionsInput } from '../schemas/trading.ts';
import { closePosition } from '../services/trading.ts';
import { listPositions } from '../services/trading-queries.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { accountReaderOf, tradingActorOf } from './trading.ts';

export const positionsRouter = router({
  /** Own positions (every account's with accounts.view), marked at the last prices, with P&L. */
  list: permissionProcedure('trading.view')
    .input(listPositionsInput)
    .query(({ ctx, input }) => listPositions(ctx.deps, accountReaderOf(ctx), input)),

  /** Flattens one's own position with a market order through the trading.execute path. */
  close: permissionProcedure('positions.manage', { rateLimit: 'trading.execute' })
    .input(closePositionInput)
    .mutation(({ ctx, input }) => closePosition(ctx.deps, tradingActorOf(ctx), input)),
});

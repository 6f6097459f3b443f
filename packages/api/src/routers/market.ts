// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { marketOnTapeInput, type TapePrint } from '../schemas/market.ts';
import { tapePrints } from '../services/market-tape.ts';
import { permissionProcedure, router } from '../trpc.ts';

const view = permissionProcedure('trading.view');

export const marketRouter = router({
  /** The newest price of each symbol of the universe (null before its first print). */
  lastPrices: view.query(({ ctx }) => ctx.deps.market.lastPrices()),

  /**
   * Prints as they happen, the same on every process, optionally for some symbols only. With
   * lastEventId, first the buffered prints after it; an id older than the buffer replays the buffer.
   */
  onTape: view.input(marketOnTapeInput).subscription(({ ctx, input, signal }): AsyncIterable<TrackedEnvelope<TapePrint>> =>
    tapePrints(ctx.deps.market, input ?? {}, signal, {
      map: (print) => tracked(print.id, print),
      backlog: ctx.outboundBytes,
      onOverflow: ({ queued, lastEventId }) =>
        ctx.deps.logger.warn({ requestId: ctx.origin.requestId, queued, lastEventId }, 'market.onTape subscriber fell behind: subscription ended'),
    }),
  ),
});

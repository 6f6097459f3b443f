// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import type { Context } from '../context.ts';
import { cancelAllInput, cancelOrderInput, executeOrderInput, listOrdersInput, listTradesInput, tradingStreamInput, type FillView, type OrderView } from '../schemas/trading.ts';
import type { Principal } from '../services/principal.ts';
import { cancelAllOrders } from '../services/kill-switch.ts';
import { cancelOrder, executeOrder, type TradingActor } from '../services/trading.ts';
import { tradingEventStream } from '../services/trading-events.ts';
import { listOrders, listTrades, type AccountReader } from '../services/trading-queries.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { readerOf } from './audit.ts';

type Authed = Pick<Context, 'origin'> & { principal: Principal };

/** The caller as a trader: their own account, as themselves or through their API key. */
export function tradingActorOf(ctx: Authed): TradingActor {
  const { actor, origin } = readerOf(ctx);
  const p = ctx.principal;
  return { ownerId: p.userId, actor, origin, botId: null, placedBy: p.kind === 'apikey' ? `apikey:${p.apiKeyId}` : `user:${p.userId}` };
}

export function accountReaderOf(ctx: Authed): AccountReader {
  return { userId: ctx.principal.userId, allAccounts: ctx.principal.permissions.has('accounts.view') };
}

const view = permissionProcedure('trading.view');
const execute = permissionProcedure('trading.execute', { rateLimit: 'trading.execute' });

export const tradingRouter = router({
  /** One ticket; a retry with the same clientOrderId returns the first result. */
  execute: execute.input(executeOrderInput).mutation(({ ctx, input }) => executeOrder(ctx.deps, tradingActorOf(ctx), input)),

  /** Risk-reducing: spends trading.reduce, not the order budget. */
  cancel: permissionProcedure('trading.execute', { rateLimit: 'trading.reduce' })
    .input(cancelOrderInput)
    .mutation(({ ctx, input }) => cancelOrder(ctx.deps, tradingActorOf(ctx), input.orderId)),

  /** The kill switch's first half: every working order of one's own account, or (security.manage) the given one or every account. */
  cancelAll: permissionProcedure('trading.execute', { rateLimit: 'trading.reduce' })
    .input(cancelAllInput)
    .mutation(({ ctx, input }) => cancelAllOrders(ctx.deps, { actor: tradingActorOf(ctx), permissions: ctx.principal.permissions }, input)),

  /** Own orders, or every account's with accounts.view; newest first, pass nextCursor back. */
  orders: view.input(listOrdersInput).query(({ ctx, input }) => listOrders(ctx.deps, accountReaderOf(ctx), input)),

  /** Own fills, or every account's with accounts.view; newest first, pass nextCursor back. */
  trades: view.input(listTradesInput).query(({ ctx, input }) => listTrades(ctx.deps, accountReaderOf(ctx), input)),

  /** Fills as they are booked on any process; resumes after lastEventId. */
  onTrade: view.input(tradingStreamInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<FillView>> {
    const reader = accountReaderOf(ctx);
    const scope = { kind: 'fill' as const, ownerId: reader.allAccounts ? null : reader.userId };
    for await (const event of tradingEventStream(ctx.deps, scope, input ?? {}, signal)) yield tracked(event.id.toString(), event.payload as FillView);
  }),

  /** Order updates (placed, filled, cancelled, rejected) as they commit; resumes after lastEventId. */
  onOrder: view.input(tradingStreamInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<OrderView>> {
    const reader = accountReaderOf(ctx);
    const scope = { kind: 'order' as const, ownerId: reader.allAccounts ? null : reader.userId };
    for await (const event of tradingEventStream(ctx.deps, scope, input ?? {}, signal)) yield tracked(event.id.toString(), event.payload as OrderView);
  }),
});

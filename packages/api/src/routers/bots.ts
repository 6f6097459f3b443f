import type { RequestOrigin } from '../audit/recorder.ts';
import { botIdInput, createBotInput, listBotsInput, updateBotInput } from '../schemas/bots.ts';
import { createBot, deleteBot, getBot, listBots, startBot, stopBot, updateBot, type BotActor } from '../services/bots.ts';
import type { Principal } from '../services/principal.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { readerOf } from './audit.ts';

const read = permissionProcedure('bots.read');
const write = permissionProcedure('bots.write');

function botActorOf(ctx: { principal: Principal; origin: RequestOrigin }): BotActor {
  return { userId: ctx.principal.userId, permissions: ctx.principal.permissions, ...readerOf(ctx) };
}

/**
 * Bots trade their owner's account. A trader sees and acts on their own only: another's id
 * answers NOT_FOUND, like a missing one. Admins and viewers read every bot; admins may also stop
 * and delete any; only the owner edits or starts one. Secrets come back masked, always.
 */
export const botsRouter = router({
  list: read.input(listBotsInput).query(({ ctx, input }) => listBots(ctx.deps, input, botActorOf(ctx))),

  get: read.input(botIdInput).query(({ ctx, input }) => getBot(ctx.deps, input.id, botActorOf(ctx))),

  /** Created stopped; credentials and secret-named parameters are stored encrypted. */
  create: write.input(createBotInput).mutation(({ ctx, input }) => createBot(ctx.deps, input, botActorOf(ctx))),

  /** A secret sent back as SECRET_MASK keeps its saved value; see updateBotInput. */
  update: write.input(updateBotInput).mutation(({ ctx, input }) => updateBot(ctx.deps, input, botActorOf(ctx))),

  delete: permissionProcedure('bots.delete')
    .input(botIdInput)
    .mutation(({ ctx, input }) => deleteBot(ctx.deps, input.id, botActorOf(ctx))),

  /** Needs trading.execute too, held by the caller and by the owner's role. Idempotent. */
  start: write.input(botIdInput).mutation(({ ctx, input }) => startBot(ctx.deps, input.id, botActorOf(ctx))),

  /** Idempotent. */
  stop: write.input(botIdInput).mutation(({ ctx, input }) => stopBot(ctx.deps, input.id, botActorOf(ctx))),
});

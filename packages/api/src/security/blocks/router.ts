import { permissionProcedure, router } from '../../trpc.ts';
import { blockAddInput, blockRemoveInput, blocksListInput } from './schemas.ts';
import { addBlock, listBlocks, removeBlock } from './service.ts';

const manage = permissionProcedure('security.manage');

const actorOf = (ctx: { principal: { userId: string }; origin: { ip: string | null; userAgent: string | null; requestId: string | null } }) => ({
  userId: ctx.principal.userId,
  origin: ctx.origin,
});

export const blocksRouter = router({
  /** Active blocks first (soonest expiry first), then recently expired and removed ones unless status is 'active'. */
  list: manage.input(blocksListInput).query(({ ctx, input }) => listBlocks(ctx.deps, input)),
  /** Blocks an address or CIDR, permanently or until expiresAt; refuses the allowlist and the caller's own address. */
  add: manage.input(blockAddInput).mutation(({ ctx, input }) => addBlock(ctx.deps, input, actorOf(ctx))),
  /** Ends the active block of exactly this address or CIDR; NOT_FOUND when there is none. */
  remove: manage.input(blockRemoveInput).mutation(({ ctx, input }) => removeBlock(ctx.deps, input, actorOf(ctx))),
});

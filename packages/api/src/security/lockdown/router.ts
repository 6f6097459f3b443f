// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { permissionProcedure } from '../../trpc.ts';
import { liftLockdownInput, lockdownInput, lockdownStatusStreamInput, type LockdownStatusEvent } from './schemas.ts';
import { engageLockdown, getLockdownStatus, liftLockdown } from './service.ts';
import { lockdownStatusStream } from './stream.ts';

const manage = permissionProcedure('security.manage');
// Everyone signed in sees the banner: account.self is every role's.
const anyone = permissionProcedure('account.self');

const actorOf = (ctx: { principal: { userId: string }; origin: { ip: string | null; userAgent: string | null; requestId: string | null } }) => ({
  userId: ctx.principal.userId,
  origin: ctx.origin,
});

/** Spread into the security router: security.lockdown, lift, status, onStatus. */
export const lockdownProcedures = {
  /** Engages the emergency lockdown; CONFLICT (LOCKDOWN_ACTIVE) while one holds. */
  lockdown: manage.input(lockdownInput).mutation(({ ctx, input }) => engageLockdown(ctx.deps, input, actorOf(ctx))),
  /** Lifts it and restores the API keys it suspended; CONFLICT (NO_LOCKDOWN) when none holds. */
  lift: manage.input(liftLockdownInput).mutation(({ ctx, input }) => liftLockdown(ctx.deps, input, actorOf(ctx))),
  /** Whether a lockdown holds, since when, why and by whom. */
  status: anyone.query(({ ctx }) => getLockdownStatus(ctx.deps)),
  /** Engages and lifts as they commit, on every process; resumes after lastEventId. */
  onStatus: anyone.input(lockdownStatusStreamInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<LockdownStatusEvent>> {
    for await (const event of lockdownStatusStream(ctx.deps, input ?? {}, signal)) yield tracked(event.id, event);
  }),
};

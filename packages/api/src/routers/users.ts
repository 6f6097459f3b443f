import { createUserInput, listUsersInput, updateUserInput, userIdInput } from '../schemas/users.ts';
import {
  createUser,
  listUsers,
  resetPassword,
  revokeSessionsOf,
  unlockUser,
  updateUser,
  userSessions,
} from '../services/users.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { toSessionView } from './sessions.ts';

const admin = permissionProcedure('users.manage');

export const usersRouter = router({
  list: admin.input(listUsersInput).query(({ ctx, input }) => listUsers(ctx.deps, input ?? { limit: 100 })),

  create: admin.input(createUserInput).mutation(({ ctx, input }) =>
    createUser(ctx.deps, input, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  update: admin.input(updateUserInput).mutation(({ ctx, input }) =>
    updateUser(ctx.deps, input, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  unlock: admin.input(userIdInput).mutation(({ ctx, input }) =>
    unlockUser(ctx.deps, input.id, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  resetPassword: admin.input(userIdInput).mutation(({ ctx, input }) =>
    resetPassword(ctx.deps, input.id, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  sessions: admin.input(userIdInput).query(async ({ ctx, input }) => {
    const rows = await userSessions(ctx.deps, input.id);
    return rows.map((s) => toSessionView(s, ctx.principal.sessionId));
  }),

  revokeSessions: admin.input(userIdInput).mutation(({ ctx, input }) =>
    revokeSessionsOf(ctx.deps, input.id, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),
});

import { createUserInput, listUsersInput, updateUserInput, userIdInput } from '../schemas/users.ts';
import {
  createUser,
  listUsers,
  resetPassword,
  revokeAccess,
  revokeSessionsOf,
  unlockUser,
  updateUser,
  userSessions,
} from '../services/users.ts';
import { permissionProcedure, router, sessionProcedure } from '../trpc.ts';
import { toSessionView } from './sessions.ts';

const admin = permissionProcedure('users.manage');
// Creating users, changing roles and resetting passwords mint or widen credentials: a person only,
// so a leaked key cannot make itself an account that outlives its revocation.
const adminSignedIn = sessionProcedure('users.manage');

export const usersRouter = router({
  list: admin.input(listUsersInput).query(({ ctx, input }) => listUsers(ctx.deps, input ?? { limit: 100 })),

  create: adminSignedIn.input(createUserInput).mutation(({ ctx, input }) =>
    createUser(ctx.deps, input, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  update: adminSignedIn.input(updateUserInput).mutation(({ ctx, input }) =>
    updateUser(ctx.deps, input, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  unlock: admin.input(userIdInput).mutation(({ ctx, input }) =>
    unlockUser(ctx.deps, input.id, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  resetPassword: adminSignedIn.input(userIdInput).mutation(({ ctx, input }) =>
    resetPassword(ctx.deps, input.id, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  sessions: admin.input(userIdInput).query(async ({ ctx, input }) => {
    const rows = await userSessions(ctx.deps, input.id);
    return rows.map((s) => toSessionView(s, ctx.principal.sessionId));
  }),

  revokeSessions: admin.input(userIdInput).mutation(({ ctx, input }) =>
    revokeSessionsOf(ctx.deps, input.id, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),

  /** Sessions, API keys and every socket opened with them, in one go: for a compromised account. */
  revokeAccess: admin.input(userIdInput).mutation(({ ctx, input }) =>
    revokeAccess(ctx.deps, input.id, { userId: ctx.principal.userId, origin: ctx.origin }),
  ),
});

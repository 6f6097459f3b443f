import { apiKeyIdInput, createApiKeyInput, rollApiKeyInput } from '../schemas/api-keys.ts';
import { createApiKey, listApiKeys, revokeApiKey, rollApiKey, type ApiKeyActor } from '../services/api-keys.ts';
import type { Principal } from '../services/principal.ts';
import type { RequestOrigin } from '../audit/recorder.ts';
import { permissionProcedure, router, sessionProcedure } from '../trpc.ts';

const manage = permissionProcedure('apikeys.manage');
// Minting and rolling need a person: a leaked key must not be able to outlive its revocation.
const manageSignedIn = sessionProcedure('apikeys.manage');

function actorOf(ctx: { principal: Principal; origin: RequestOrigin }): ApiKeyActor {
  return {
    userId: ctx.principal.userId,
    permissions: ctx.principal.permissions,
    origin: ctx.origin,
    canManageAll: ctx.principal.permissions.has('users.manage'),
  };
}

export const apiKeysRouter = router({
  /** Returns the key once; only its SHA-256 hash is stored. */
  create: manageSignedIn.input(createApiKeyInput).mutation(({ ctx, input }) =>
    createApiKey(
      ctx.deps,
      {
        name: input.name,
        permissions: input.permissions,
        expiresAt: input.expiresAt ? new Date(input.expiresAt) : undefined,
        rateLimit: input.rateLimit,
      },
      actorOf(ctx),
    ),
  ),

  list: manage.query(({ ctx }) => listApiKeys(ctx.deps, actorOf(ctx))),

  revoke: manage.input(apiKeyIdInput).mutation(({ ctx, input }) => revokeApiKey(ctx.deps, input.id, actorOf(ctx))),

  roll: manageSignedIn.input(rollApiKeyInput).mutation(({ ctx, input }) =>
    rollApiKey(ctx.deps, { id: input.id, graceSeconds: input.graceSeconds ?? 0 }, actorOf(ctx)),
  ),
});

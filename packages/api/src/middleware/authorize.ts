import { appError } from '../errors.ts';
import type { Principal } from '../services/principal.ts';
import { t } from '../trpc/core.ts';

/** Enforces the permission the procedure declares in its meta: what is declared is what is checked. */
export const authorize = t.middleware(async ({ ctx, meta, path, next }) => {
  const principal = (ctx as typeof ctx & { principal: Principal }).principal;
  if (meta?.access !== 'permission') {
    // Fail closed: a protected procedure without a declared permission is a bug, not a free pass.
    throw appError('FORBIDDEN', 'This procedure declares no permission', { reason: 'UNDECLARED_ACCESS' });
  }
  if (principal.mustChangePassword && !meta.allowPendingPasswordChange) {
    throw appError('FORBIDDEN', 'Change your password to continue', { reason: 'PASSWORD_CHANGE_REQUIRED' });
  }
  if (!principal.permissions.has(meta.permission)) {
    await ctx.deps.audit.record({
      action: 'authz.denied',
      outcome: 'denied',
      actor: principal.kind === 'apikey' ? { type: 'apikey', id: principal.apiKeyId } : { type: 'user', id: principal.userId },
      origin: ctx.origin,
      resource: { type: 'procedure', id: path },
      details: { permission: meta.permission, role: principal.role, onBehalfOf: principal.userId },
    });
    throw appError('FORBIDDEN', `Missing permission: ${meta.permission}`, {
      reason: 'MISSING_PERMISSION',
      permission: meta.permission,
    });
  }
  // The context already carries the principal (authenticate put it there): passing it again
  // would copy the whole context once more on every call.
  return next();
});

/**
 * The one init file: every way a request can be let in is below.
 * - publicProcedure: anyone, signed in or not.
 * - permissionProcedure(p): a live session whose role grants permission p.
 */
import { authenticate } from './middleware/authenticate.ts';
import { authorize } from './middleware/authorize.ts';
import type { Permission } from './permissions.ts';
import { t } from './trpc/core.ts';

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const publicProcedure = t.procedure.meta({ access: 'public' });

export function permissionProcedure(permission: Permission, opts: { allowPendingPasswordChange?: boolean } = {}) {
  return t.procedure
    .meta({ access: 'permission', permission, allowPendingPasswordChange: opts.allowPendingPasswordChange ?? false })
    .use(authenticate)
    .use(authorize);
}

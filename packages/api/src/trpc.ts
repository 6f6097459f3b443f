/**
 * The one init file: every way a request can be let in is below.
 * - publicProcedure: anyone, signed in or not; rate-limited per IP.
 * - permissionProcedure(p): a live session or an API key whose rights include permission p;
 *   rate-limited per principal.
 * - sessionProcedure(p): as permissionProcedure, but only for a signed-in person (own sessions,
 *   own password), never an API key.
 */
import { authenticate, requireSession } from './middleware/authenticate.ts';
import { authorize } from './middleware/authorize.ts';
import { databaseAvailability } from './middleware/database-availability.ts';
import { observePrincipal, observeRequest } from './middleware/detection.ts';
import { rateLimit } from './middleware/rate-limit.ts';
import type { Permission } from './permissions.ts';
import type { ProcedurePolicy } from './rate-limit/policies.ts';
import { t } from './trpc/core.ts';

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

// Every procedure answers 503 (not 500) for a call the database could not take, and is seen by
// intrusion detection (a push onto its queue, nothing awaited).
const procedure = t.procedure.use(databaseAvailability).use(observeRequest);

export const publicProcedure = procedure.meta({ access: 'public' }).use(rateLimit);

interface PermissionOptions {
  /** Reachable while a forced password change is pending. */
  allowPendingPasswordChange?: boolean;
  /** An extra rate-limit policy, e.g. 'trading.execute'. */
  rateLimit?: ProcedurePolicy;
}

export function permissionProcedure(permission: Permission, opts: PermissionOptions = {}) {
  return procedure
    .meta({
      access: 'permission',
      permission,
      allowPendingPasswordChange: opts.allowPendingPasswordChange ?? false,
      ...(opts.rateLimit ? { rateLimit: opts.rateLimit } : {}),
    })
    .use(authenticate)
    .use(observePrincipal)
    .use(rateLimit)
    .use(authorize);
}

export function sessionProcedure(permission: Permission, opts: PermissionOptions = {}) {
  return permissionProcedure(permission, opts).use(requireSession);
}

import { initTRPC } from '@trpc/server';
import type { Context } from '../context.ts';
import { formatError } from './error-format.ts';
import type { Permission } from '../permissions.ts';
import type { ProcedurePolicy } from '../rate-limit/policies.ts';

/** How a procedure may be reached; the router-walk test fails on any procedure without one. */
export type Access =
  | { access: 'public' }
  | {
      access: 'permission';
      permission: Permission;
      /** Reachable while a forced password change is pending (me, changePassword, logout). */
      allowPendingPasswordChange?: boolean;
    };

export type Meta = Access & {
  /** A rate-limit policy on top of the `api` budget every call spends. */
  rateLimit?: ProcedurePolicy;
};

// Internal to the init file and the middleware: routers build from the procedures in trpc.ts.
export const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    errorFormatter: formatError,
    // Stacks never leave the server, whatever NODE_ENV says.
    isDev: false,
  });

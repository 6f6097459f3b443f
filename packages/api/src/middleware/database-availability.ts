import { databaseUnavailableCause, type DatabaseUnavailableError } from '@tapevision/db';
import type { Context } from '../context.ts';
import { appError } from '../errors.ts';
import { t } from '../trpc/core.ts';

/** The 503 a call gets when the database cannot take it, with the Retry-After the breaker gives. */
export function unavailableError(ctx: Pick<Context, 'setHeader'>, cause: DatabaseUnavailableError) {
  ctx.setHeader('Retry-After', String(cause.retryAfterSeconds));
  return appError('SERVICE_UNAVAILABLE', cause.message, { reason: cause.reason, retryAfterMs: cause.retryAfterSeconds * 1000 });
}

/**
 * Outermost on every procedure: a call that needed the database while it was away (or that the
 * database guard refused) answers 503 SERVICE_UNAVAILABLE at once instead of 500, so clients
 * know to retry. Authentication runs inside it, so a session or key that cannot be checked is
 * refused (fail closed), never let in.
 */
export const databaseAvailability = t.middleware(async ({ ctx, next }) => {
  const result = await next();
  if (!result.ok) {
    const cause = databaseUnavailableCause(result.error);
    if (cause) throw unavailableError(ctx, cause);
  }
  return result;
});

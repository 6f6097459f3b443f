import type { Context } from '../context.ts';
import type { Principal } from '../services/principal.ts';
import { t } from '../trpc/core.ts';

/**
 * Every call, public ones too: its IP counted and its user agent and raw input handed to the
 * detection worker. Only a push here: the input promise is awaited and matched in the worker.
 */
export const observeRequest = t.middleware(({ ctx, path, getRawInput, next }) => {
  if (ctx.transport !== 'internal') {
    const input = getRawInput();
    // A body that fails to parse rejects here and is answered by tRPC; the worker only skips it.
    input.catch(() => {});
    ctx.deps.detection.request({ origin: ctx.origin, procedure: path, input });
  }
  return next();
});

/** After authenticate: the call counted against its principal too (api_flood). */
export const observePrincipal = t.middleware(({ ctx, next }) => {
  const p = (ctx as Context & { principal?: Principal }).principal;
  if (p && ctx.transport !== 'internal') ctx.deps.detection.principalCall({ userId: p.userId, apiKeyId: p.kind === 'apikey' ? p.apiKeyId : null }, ctx.origin);
  return next();
});

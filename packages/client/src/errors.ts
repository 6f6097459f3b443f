import { TRPCClientError } from '@trpc/client';
import type { AppRouter } from '@tapevision/api';

/**
 * Any error a Tape Vision call can reject with. `data.code` is the tRPC code ('UNAUTHORIZED',
 * 'FORBIDDEN', 'BAD_REQUEST', …), `data.reason` says why (e.g. 'API_KEY_REVOKED') and `message`
 * says it in words. `data` is undefined when the server was never reached.
 */
export type TapeVisionError = TRPCClientError<AppRouter>;

/**
 * Thrown when a call was refused by a rate limit (HTTP 429 / TOO_MANY_REQUESTS).
 * Wait `retryAfterMs` before trying again.
 */
export class RateLimitedError extends TRPCClientError<AppRouter> {
  /** Milliseconds to wait before the limit lets this caller through again. */
  readonly retryAfterMs: number;
  /** The limit that refused the call, e.g. 'api', 'apikey' or 'trading.execute'. */
  readonly policy: string | null;

  constructor(original: TRPCClientError<AppRouter>) {
    super(original.message, {
      cause: original,
      result: original.shape ? { error: original.shape } : undefined,
      meta: original.meta,
    });
    // TRPCClientError's constructor pins the prototype to its own; put ours back, or
    // `instanceof RateLimitedError` would be false.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = 'RateLimitedError';
    const data = original.data as { retryAfterMs?: unknown; policy?: unknown } | undefined;
    this.retryAfterMs = typeof data?.retryAfterMs === 'number' ? data.retryAfterMs : 1000;
    this.policy = typeof data?.policy === 'string' ? data.policy : null;
  }
}

/** True for an error from a Tape Vision call; narrows to {@link TapeVisionError}, so `err.data?.reason` is typed. */
export function isTapeVisionError(err: unknown): err is TapeVisionError {
  return err instanceof TRPCClientError;
}

/** True for a call refused by a rate limit; narrows to {@link RateLimitedError}. */
export function isRateLimited(err: unknown): err is RateLimitedError {
  return err instanceof RateLimitedError;
}

/** True when the request never got an answer from the server (connection refused, reset, DNS…). */
export function isNetworkError(err: TRPCClientError<AppRouter>): boolean {
  return !err.shape && !err.data && !(err.meta as { response?: unknown } | undefined)?.response;
}

import { AsyncLocalStorage } from 'node:async_hooks';

/** Why a call that needs the database was refused; the client sees it as `error.data.reason`. */
export type UnavailableReason = 'DATABASE_UNAVAILABLE' | 'DATABASE_TIMEOUT' | 'REQUEST_ABANDONED' | 'COMMIT_OUTCOME_UNKNOWN';

const MESSAGES: Record<UnavailableReason, string> = {
  DATABASE_UNAVAILABLE: 'The database is unavailable: try again shortly',
  DATABASE_TIMEOUT: 'The database did not answer in time: try again shortly',
  REQUEST_ABANDONED: 'The request was abandoned before it completed',
  COMMIT_OUTCOME_UNKNOWN: 'The database went away while the change was being committed: it may or may not have been applied',
};

/**
 * The database cannot take this call now; nothing of it was (or will be) committed, except with
 * COMMIT_OUTCOME_UNKNOWN: the connection was lost after COMMIT was sent, before its answer.
 */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
  constructor(
    readonly reason: UnavailableReason,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(MESSAGES[reason], options);
  }
}

/** The DatabaseUnavailableError somewhere in an error's cause chain (drizzle and tRPC wrap it). */
export function databaseUnavailableCause(err: unknown): DatabaseUnavailableError | null {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DatabaseUnavailableError) return e;
  }
  return null;
}

/**
 * One HTTP request as the database guard sees it: once its client has gone (it stopped waiting),
 * nothing more of it may reach the database and no transaction of it may commit.
 */
export interface RequestScope {
  readonly abandoned: boolean;
  abandon(): void;
}

const scopes = new AsyncLocalStorage<RequestScope>();

export function createRequestScope(): RequestScope {
  let abandoned = false;
  return {
    get abandoned() {
      return abandoned;
    },
    abandon() {
      abandoned = true;
    },
  };
}

export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/** The scope of the request this code runs for, if any. */
export function currentRequestScope(): RequestScope | undefined {
  return scopes.getStore();
}

/**
 * Binds `fn` to run outside any request: for background work (the audit writer's flushes) that a
 * request only starts and that must go on after that request is answered or abandoned.
 */
export function detachedFromRequest<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return (...args) => scopes.exit(() => fn(...args));
}

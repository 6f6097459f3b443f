import { AsyncResource } from 'node:async_hooks';
import type { MaybeRow, PendingQuery, Sql, TransactionSql } from 'postgres';

type Rows = readonly MaybeRow[];
import { currentRequestScope, DatabaseUnavailableError, type UnavailableReason } from './availability.ts';

export interface GuardOptions {
  /** A query, on a connection of its own, that proves the database answers (`select 1`). */
  probe: () => Promise<unknown>;
  /** How often an open breaker probes; also the Retry-After the refused calls get. */
  probeIntervalMs?: number;
  /** Longest a query or BEGIN may wait for a pool connection before it is cancelled, unsent. */
  acquireTimeoutMs?: number;
  onStateChange?: (state: 'open' | 'closed', err?: unknown) => void;
}

export interface DatabaseGuard {
  readonly state: 'open' | 'closed';
  readonly retryAfterSeconds: number;
  /** The postgres.js surface drizzle uses (`unsafe`, `begin`, `savepoint`, `options`), guarded. */
  client: Sql;
  /** Runs one query of our own (event bus, locks) under the same breaker and wait bound. */
  run<T extends Rows>(query: PendingQuery<T>): Promise<T>;
  /** Refuses at once when the breaker is open or the request was abandoned. */
  assertAvailable(): void;
  stop(): void;
}

// postgres.js's own codes for a connection that failed or dropped, Node's socket errors, and the
// SQLSTATEs of a server that is shutting down, restarting or refusing connections.
const CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
]);
// The statement, lock and idle-in-transaction timeouts set on every connection (client.ts).
const TIMEOUT_CODES = new Set(['57014', '55P03', '25P03']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isConnectionFailure(err: unknown): boolean {
  const code = codeOf(err);
  return code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith('08'));
}

type Unsafe = (query: string, params?: unknown[], options?: Record<string, unknown>) => PendingQuery<Rows>;

/**
 * A circuit breaker in front of a postgres.js pool. While the database is reachable it adds two
 * bounds: a query waits at most `acquireTimeoutMs` for a connection (then it is cancelled before
 * it is sent), and a transaction of a request whose client has gone does not commit. Once a query
 * finds the database unreachable and a probe confirms it (one stale connection dropped after a
 * restart is not an outage), the breaker opens: every queued, unsent query is cancelled, and
 * further calls are refused at once with DatabaseUnavailableError until a probe answers. Without
 * it postgres.js queues each query until a connection comes back, so calls hung for seconds and
 * ran long after their callers had given up.
 */
export function createDatabaseGuard(raw: Sql, opts: GuardOptions): DatabaseGuard {
  const probeIntervalMs = opts.probeIntervalMs ?? 500;
  const acquireTimeoutMs = opts.acquireTimeoutMs ?? 1_000;
  const retryAfterSeconds = Math.max(1, Math.ceil(probeIntervalMs / 1000));
  let state: 'open' | 'closed' = 'closed';
  let probeTimer: NodeJS.Timeout | null = null;
  let confirming: Promise<void> | null = null;
  let stopped = false;
  // Queries and BEGINs handed to the pool and not yet given a connection: cancelled when the breaker opens.
  const waiting = new Set<() => void>();

  const unavailable = (reason: UnavailableReason, cause?: unknown) =>
    new DatabaseUnavailableError(reason, retryAfterSeconds, cause === undefined ? undefined : { cause });

  function assertAvailable() {
    if (currentRequestScope()?.abandoned) throw unavailable('REQUEST_ABANDONED');
    if (state === 'open') throw unavailable('DATABASE_UNAVAILABLE');
  }

  function trip(err: unknown) {
    if (state === 'open' || stopped) return;
    state = 'open';
    opts.onStateChange?.('open', err);
    for (const cancel of [...waiting]) cancel();
    waiting.clear();
    scheduleProbe();
  }

  // A connection failure opens the breaker only if the database does not answer a probe either.
  function suspect(err: unknown) {
    if (state === 'open' || stopped || confirming) return;
    confirming = probeOnce().then((ok) => {
      confirming = null;
      if (!ok) trip(err);
    });
  }

  async function probeOnce(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opts.probe(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('probe timed out')), acquireTimeoutMs);
        }),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  function scheduleProbe() {
    if (probeTimer || stopped) return;
    probeTimer = setTimeout(() => void probe(), probeIntervalMs);
    probeTimer.unref();
  }

  async function probe() {
    const ok = await probeOnce();
    probeTimer = null;
    if (!ok) return scheduleProbe();
    if (state === 'open') {
      state = 'closed';
      opts.onStateChange?.('closed');
    }
  }

  /** The error a caller sees for a failed query; trips the breaker on a connection failure. */
  function translate(err: unknown, cancelledUnsent: boolean): unknown {
    if (cancelledUnsent) return unavailable('DATABASE_UNAVAILABLE', err);
    if (isConnectionFailure(err)) {
      suspect(err);
      return unavailable('DATABASE_UNAVAILABLE', err);
    }
    const code = codeOf(err);
    if (code && TIMEOUT_CODES.has(code)) return unavailable('DATABASE_TIMEOUT', err);
    return err;
  }

  /** A pool query: refused when unavailable, cancelled unsent after the wait bound or on trip. */
  async function runPooled<T extends Rows>(query: PendingQuery<T>): Promise<T> {
    assertAvailable();
    let cancelledUnsent = false;
    // postgres.js gives a query its connection's state when it is handed to one; until then a
    // cancel removes it from the queue, so it is never sent.
    const cancelUnsent = () => {
      if ((query as unknown as { state: unknown }).state) return;
      cancelledUnsent = true;
      void query.cancel();
    };
    waiting.add(cancelUnsent);
    const timer = setTimeout(cancelUnsent, acquireTimeoutMs);
    try {
      return await query;
    } catch (err) {
      throw translate(err, cancelledUnsent);
    } finally {
      clearTimeout(timer);
      waiting.delete(cancelUnsent);
    }
  }

  /** A query on a transaction's own connection: no pool wait, but the request must still be there. */
  async function runInTransaction<T extends Rows>(query: PendingQuery<T>): Promise<T> {
    // Refused before it is awaited: postgres.js only sends a query once something awaits it.
    if (currentRequestScope()?.abandoned) throw unavailable('REQUEST_ABANDONED');
    try {
      return await query;
    } catch (err) {
      throw translate(err, false);
    }
  }

  // What drizzle awaits: `unsafe(...)` or `unsafe(...).values()`. The query starts when awaited.
  function lazy<T extends Rows>(query: PendingQuery<T>, run: (q: PendingQuery<T>) => Promise<T>) {
    let started: Promise<T> | null = null;
    const start = () => (started ??= run(query));
    const thenable = {
      values() {
        query.values();
        return thenable;
      },
      then<A, B>(onOk?: (v: T) => A | PromiseLike<A>, onErr?: (e: unknown) => B | PromiseLike<B>) {
        return start().then(onOk, onErr);
      },
      catch<B>(onErr: (e: unknown) => B | PromiseLike<B>) {
        return start().catch(onErr);
      },
      finally(fn: () => void) {
        return start().finally(fn);
      },
    };
    return thenable;
  }

  function guardTransaction(tx: TransactionSql): TransactionSql {
    const unsafe = tx.unsafe.bind(tx) as unknown as Unsafe;
    return {
      options: (tx as unknown as { options: unknown }).options,
      unsafe: (query: string, params?: unknown[], options?: Record<string, unknown>) =>
        lazy(unsafe(query, params, options), runInTransaction),
      savepoint: (fn: (sql: TransactionSql) => unknown) => tx.savepoint((sp) => fn(guardTransaction(sp))),
    } as unknown as TransactionSql;
  }

  function begin<T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    try {
      assertAvailable();
    } catch (err) {
      return Promise.reject(err);
    }
    const scope = currentRequestScope();
    let given = false;
    let committing = false;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        waiting.delete(giveUp);
        outcome();
      };
      // BEGIN is queued inside postgres.js where it cannot be cancelled: once the caller has been
      // answered, the transaction still opens when a connection frees up, and rolls back at once.
      const giveUp = () => {
        if (!given) settle(() => reject(unavailable('DATABASE_UNAVAILABLE')));
      };
      waiting.add(giveUp);
      const timer = setTimeout(giveUp, acquireTimeoutMs);
      // Bound to the caller: postgres.js calls it from its socket's callbacks, whose async context is
      // whichever request happened to open that connection.
      raw
        .begin(AsyncResource.bind(async (tx: TransactionSql) => {
          given = true;
          if (settled) throw unavailable('DATABASE_UNAVAILABLE');
          const result = await fn(guardTransaction(tx));
          // The last moment before postgres.js sends COMMIT: a request whose client has gone commits nothing.
          if (scope?.abandoned) throw unavailable('REQUEST_ABANDONED');
          committing = true;
          return result;
        }))
        .then(
          (result) => settle(() => resolve(result as T)),
          (err: unknown) =>
            settle(() => {
              const translated = translate(err, false);
              // Lost while COMMIT was on its way: it may have been applied. Said so, not "unavailable".
              reject(committing && translated instanceof DatabaseUnavailableError ? unavailable('COMMIT_OUTCOME_UNKNOWN', err) : translated);
            }),
        );
    });
  }

  const rawUnsafe = raw.unsafe.bind(raw) as unknown as Unsafe;
  const client = {
    options: raw.options,
    unsafe: (query: string, params?: unknown[], options?: Record<string, unknown>) => lazy(rawUnsafe(query, params, options), runPooled),
    begin: (a: unknown, b?: unknown) => begin((typeof a === 'function' ? a : b) as (tx: TransactionSql) => Promise<unknown>),
  } as unknown as Sql;

  return {
    get state() {
      return state;
    },
    retryAfterSeconds,
    client,
    run: (query) => runPooled(query),
    assertAvailable,
    stop() {
      stopped = true;
      if (probeTimer) clearTimeout(probeTimer);
    },
  };
}

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import * as schema from './schema/index.ts';
import { createLocalEventBus, createPostgresEventBus, type EventBus } from './event-bus.ts';
import { localLock, tryAdvisoryLock, type HeldLock } from './advisory-lock.ts';
import { createDatabaseGuard } from './postgres-guard.ts';

export type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = Parameters<Parameters<Database['transaction']>[0]>[0];
/** Anything a query function can run on: the database itself or an open transaction. */
export type Queryable = Database | Tx;

export const migrationsFolder = fileURLToPath(new URL('../../../drizzle', import.meta.url));

export interface DatabaseHandle {
  db: Database;
  driver: 'pglite' | 'postgres';
  /** Cross-process notifications: LISTEN/NOTIFY on Postgres, in-process on the embedded database. */
  bus: EventBus;
  /**
   * Takes a Postgres advisory lock on a reserved connection (null if another session holds it):
   * how several processes pick one to do a job. The embedded database always grants it.
   */
  tryLock(key: number): Promise<HeldLock | null>;
  /** 'open' while the Postgres circuit breaker refuses calls (the database is unreachable); the embedded database is always 'closed'. */
  breakerState(): 'open' | 'closed';
  close(): Promise<void>;
}

/** Bounds on waiting for Postgres; every call that needs it answers within them or is refused. */
export interface PostgresTimeouts {
  /** Opening a connection (postgres.js connect_timeout). */
  connectMs: number;
  /** A query waiting for a pool connection before it is cancelled, unsent. */
  acquireMs: number;
  /** Server-side statement_timeout; 0 turns it off (the command-line tools). */
  statementMs: number;
  /** Server-side lock_timeout. */
  lockMs: number;
  /** Server-side idle_in_transaction_session_timeout: a transaction whose process stalled or died lets go of its locks. */
  idleInTransactionMs: number;
  /** How often an open circuit breaker probes the database. */
  probeIntervalMs: number;
}

export const defaultPostgresTimeouts: PostgresTimeouts = {
  connectMs: 1_000,
  acquireMs: 1_000,
  statementMs: 15_000,
  lockMs: 5_000,
  idleInTransactionMs: 10_000,
  probeIntervalMs: 500,
};

export interface DatabaseOptions {
  /** postgres:// URL; without it the embedded PGlite is used. */
  url?: string | undefined;
  /** Where PGlite keeps its files; omitted means in memory (tests). */
  dataDir?: string | undefined;
  maxConnections?: number;
  timeouts?: Partial<PostgresTimeouts>;
  /** Told when the Postgres circuit breaker opens (with the failure) or closes again. */
  onBreakerChange?: (state: 'open' | 'closed', err?: unknown) => void;
}

// Any 64-bit constant works; it only has to be the same in every process of this app.
const MIGRATION_LOCK_KEY = 7_401_236_114;

export async function openDatabase(opts: DatabaseOptions): Promise<DatabaseHandle> {
  if (opts.url) return openPostgres(opts.url, opts.maxConnections ?? 10, { ...defaultPostgresTimeouts, ...opts.timeouts }, opts.onBreakerChange);
  return openPglite(opts.dataDir);
}

async function openPglite(dataDir: string | undefined): Promise<DatabaseHandle> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const client = dataDir ? new PGlite(dataDir) : new PGlite();
  await client.waitReady;
  const db = drizzlePglite({ client, schema }) as unknown as Database;
  await migratePglite(db as never, { migrationsFolder });
  return {
    db,
    driver: 'pglite',
    bus: createLocalEventBus(),
    tryLock: async () => localLock(),
    breakerState: () => 'closed',
    close: async () => {
      await client.close();
    },
  };
}

/**
 * postgres.js counts failed connects across the whole pool and backs off up to 20 s, so a
 * two-second blip under load left requests hanging for 15 s after the database was back.
 * Capped at one second (with jitter), the pool is serving again within a second of recovery.
 */
export function reconnectBackoffSeconds(retries: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1);
}

async function openPostgres(
  url: string,
  max: number,
  timeouts: PostgresTimeouts,
  onBreakerChange: DatabaseOptions['onBreakerChange'],
): Promise<DatabaseHandle> {
  await migrateWithLock(url);
  const client = postgres(url, {
    max,
    onnotice: () => {},
    backoff: reconnectBackoffSeconds,
    connect_timeout: timeouts.connectMs / 1000,
    // Sent in the startup message, so they hold on every connection, the LISTEN one included.
    connection: {
      statement_timeout: timeouts.statementMs,
      lock_timeout: timeouts.lockMs,
      idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
    },
  });
  // Its own connection: a probe must not wait behind the pool's queue or its reconnect backoff.
  const probeClient = postgres(url, { max: 1, onnotice: () => {}, backoff: reconnectBackoffSeconds, connect_timeout: timeouts.connectMs / 1000, idle_timeout: 10 });
  const guard = createDatabaseGuard(client, {
    probe: () => probeClient`select 1`,
    probeIntervalMs: timeouts.probeIntervalMs,
    acquireTimeoutMs: timeouts.acquireMs,
    ...(onBreakerChange ? { onStateChange: onBreakerChange } : {}),
  });
  const db = drizzlePostgres({ client: guard.client, schema }) as unknown as Database;
  const bus = createPostgresEventBus(client, guard.run);
  return {
    db,
    driver: 'postgres',
    bus,
    tryLock: async (key) => {
      // reserve() would otherwise wait in the pool's queue until the database is back.
      guard.assertAvailable();
      return tryAdvisoryLock(client, key);
    },
    breakerState: () => guard.state,
    close: async () => {
      guard.stop();
      await bus.close();
      await Promise.all([client.end({ timeout: 5 }), probeClient.end({ timeout: 1 })]);
    },
  };
}

// Several server processes may start at once against one database: only one migrates at a time.
async function migrateWithLock(url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await client`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migratePostgres(drizzlePostgres({ client }), { migrationsFolder });
    } finally {
      await client`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
  } finally {
    await client.end({ timeout: 5 });
  }
}

/**
 * Ready when the database answers with every migration applied, within `timeoutMs`: a load
 * balancer's probe gets its answer in time even while the database hangs or is gone.
 */
export async function checkReadiness(db: Database, expectedMigrations: number, timeoutMs = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const check = (async () => {
    const rows = await db.execute<{ n: number }>(
      sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
    );
    const list = Array.isArray(rows) ? rows : (rows as unknown as { rows: { n: number }[] }).rows;
    return Number(list[0]?.n ?? 0) >= expectedMigrations;
  })().catch(() => false);
  try {
    return await Promise.race([check, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

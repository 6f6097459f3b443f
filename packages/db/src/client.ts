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
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres:// URL; without it the embedded PGlite is used. */
  url?: string | undefined;
  /** Where PGlite keeps its files; omitted means in memory (tests). */
  dataDir?: string | undefined;
  maxConnections?: number;
}

// Any 64-bit constant works; it only has to be the same in every process of this app.
const MIGRATION_LOCK_KEY = 7_401_236_114;

export async function openDatabase(opts: DatabaseOptions): Promise<DatabaseHandle> {
  if (opts.url) return openPostgres(opts.url, opts.maxConnections ?? 10);
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

async function openPostgres(url: string, max: number): Promise<DatabaseHandle> {
  await migrateWithLock(url);
  const client = postgres(url, { max, onnotice: () => {}, backoff: reconnectBackoffSeconds });
  const db = drizzlePostgres({ client, schema }) as unknown as Database;
  const bus = createPostgresEventBus(client);
  return {
    db,
    driver: 'postgres',
    bus,
    tryLock: (key) => tryAdvisoryLock(client, key),
    close: async () => {
      await bus.close();
      await client.end({ timeout: 5 });
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

export async function checkReadiness(db: Database, expectedMigrations: number): Promise<boolean> {
  try {
    const rows = await db.execute<{ n: number }>(
      sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
    );
    const list = Array.isArray(rows) ? rows : (rows as unknown as { rows: { n: number }[] }).rows;
    return Number(list[0]?.n ?? 0) >= expectedMigrations;
  } catch {
    return false;
  }
}

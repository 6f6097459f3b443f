import { createScratchDatabase } from '@tapevision/db';

/** The local Postgres every developer machine and CI has, unless BENCH_DATABASE_URL says otherwise. */
export const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A new empty database on that server, dropped again by `drop()`. */
export function freshPostgres(adminUrl = POSTGRES_URL): Promise<{ url: string; drop(): Promise<void> }> {
  return createScratchDatabase(adminUrl, 'tv_bench');
}

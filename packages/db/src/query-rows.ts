import type { SQL } from 'drizzle-orm';
import type { Queryable } from './client.ts';

/**
 * Rows of a raw SQL query on either driver: postgres.js returns an array, PGlite an object with
 * `rows`. Column names come back as the query spells them.
 */
export async function queryRows<T extends Record<string, unknown>>(db: Queryable, query: SQL): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

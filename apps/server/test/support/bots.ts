/** Helpers for the bot tests: stored rows as they are, and a scan of the whole database for plaintext. */
import { bots, queryRows, sql, type Bot } from '@tapevision/db';
import type { TestServer } from './server.ts';

export async function botRow(server: TestServer, id: string): Promise<Bot> {
  const row = await server.app.deps.db.query.bots.findFirst({ where: (b, { eq }) => eq(b.id, id) });
  if (!row) throw new Error(`no bot row ${id}`);
  return row;
}

export async function botRowOrNull(server: TestServer, id: string): Promise<Bot | null> {
  return (await server.app.deps.db.query.bots.findFirst({ where: (b, { eq }) => eq(b.id, id) })) ?? null;
}

/** Writes stored columns directly, as an attacker with database access (or a bad migration) would. */
export async function overwriteBot(server: TestServer, id: string, patch: Partial<Pick<Bot, 'parameters' | 'credentials'>>): Promise<void> {
  await server.app.deps.db.update(bots).set(patch).where(sql`${bots.id} = ${id}`);
}

/**
 * Every text, varchar, json and jsonb column of every table in the schema (audit_logs included),
 * searched for each needle. Returns where each was found: an empty list means the database holds
 * none of them in plaintext.
 */
export async function plaintextHits(server: TestServer, needles: string[]): Promise<string[]> {
  await server.app.deps.audit.flush();
  const db = server.app.deps.db;
  const columns = await queryRows<{ table_name: string; column_name: string }>(
    db,
    sql`select table_name, column_name from information_schema.columns
        where table_schema = current_schema() and data_type in ('text', 'character varying', 'json', 'jsonb')
        order by table_name, column_name`,
  );
  if (columns.length < 10) throw new Error(`the scan found only ${columns.length} columns: the query is wrong`);
  const hits: string[] = [];
  for (const { table_name: table, column_name: column } of columns) {
    for (const needle of needles) {
      const [row] = await queryRows<{ n: number }>(
        db,
        sql`select count(*)::int as n from ${sql.identifier(table)} where strpos(${sql.identifier(column)}::text, ${needle}) > 0`,
      );
      if ((row?.n ?? 0) > 0) hits.push(`${table}.${column} holds "${needle}"`);
    }
  }
  return hits;
}

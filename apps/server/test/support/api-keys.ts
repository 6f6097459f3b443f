/**
 * Helpers for the API-key tests: clients that authenticate with a key over HTTP (`x-api-key`) and
 * WebSocket (`connectionParams.apiKey`), reads of the api_keys table, and a dump of every table
 * for "the secret is stored nowhere" scans.
 */
import { createHash } from 'node:crypto';
import { apiKeys, schema, type ApiKey } from '@tapevision/db';
import { httpClient, wsClient, type ApiClient, type WsTestClient } from './clients.ts';
import type { TestServer } from './server.ts';

/** tvk_<10 lower-case alphanumerics>_<43 base64url characters>. */
export const API_KEY_FORMAT = /^tvk_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$/;

export function splitKey(key: string): { prefix: string; secret: string } {
  const match = API_KEY_FORMAT.exec(key);
  if (!match) throw new Error(`not an API key: ${key}`);
  return { prefix: match[1] as string, secret: match[2] as string };
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A tRPC client over HTTP that presents `key` in the x-api-key header (and nothing else). */
export function keyClient(server: Pick<TestServer, 'trpcUrl'>, key: string, opts: { batch?: boolean; headers?: Record<string, string> } = {}): ApiClient {
  return httpClient(server, { ...opts, headers: { 'x-api-key': key, ...opts.headers } });
}

/** A tRPC client over WebSocket that presents `key` as connectionParams.apiKey. */
export function keyWsClient(server: Pick<TestServer, 'wsUrl'>, key: string): WsTestClient {
  return wsClient(server, { connectionParams: { apiKey: key } });
}

export async function apiKeyRows(server: TestServer): Promise<ApiKey[]> {
  return server.app.deps.db.select().from(apiKeys);
}

export async function apiKeyRow(server: TestServer, id: string): Promise<ApiKey> {
  const row = (await apiKeyRows(server)).find((k) => k.id === id);
  if (!row) throw new Error(`no api_keys row ${id}`);
  return row;
}

/** Every row of every table in the schema, as one JSON text (new tables are included on their own). */
export async function dumpDatabase(server: TestServer): Promise<string> {
  const isTable = (v: unknown): boolean => typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[Symbol.for('drizzle:IsDrizzleTable')] === true;
  const tables = Object.entries(schema).filter(([, v]) => isTable(v));
  if (tables.length < 5) throw new Error(`expected the schema's tables, found ${tables.length}`);
  const dump: Record<string, unknown[]> = {};
  for (const [name, table] of tables) {
    dump[name] = await server.app.deps.db.select().from(table as typeof apiKeys);
  }
  // Bigint ids (alerts, events) as text: the dump is searched for secrets, not parsed.
  return JSON.stringify(dump, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

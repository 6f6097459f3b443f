import { and, eq, ne, sql } from 'drizzle-orm';
import { sessions, users, type Database } from '@tapevision/db';
import { matchPayload, matchScanner } from './matchers.ts';
import { countEvent, type AdminLoginEvent, type CountEvent, type RequestEvent } from './events.ts';

/** Every string in a raw input, keys included, up to a bound (an attacker picks the shape). */
export function stringsIn(value: unknown, limit = 200): string[] {
  const out: string[] = [];
  const stack: unknown[] = [value];
  let seen = 0;
  while (stack.length > 0 && out.length < limit && seen < 5_000) {
    const v = stack.pop();
    seen += 1;
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (v && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        out.push(k);
        stack.push(item);
      }
    }
  }
  return out;
}

/** A request's scanner user agent and suspicious payload, as count events (most requests: none). */
export async function eventsFromRequest(e: RequestEvent): Promise<CountEvent[]> {
  const out: CountEvent[] = [];
  const source = { ip: e.ip, userId: e.userId, apiKeyId: e.apiKeyId };
  const key = e.ip ? `ip:${e.ip}` : e.apiKeyId ? `apikey:${e.apiKeyId}` : e.userId ? `user:${e.userId}` : null;
  if (!key) return out;
  const scanner = matchScanner(e.userAgent);
  if (scanner) out.push(countEvent('scanner', key, source, e.at, { details: { scanner, procedure: e.procedure } }));
  let input: unknown;
  try {
    input = await e.input;
  } catch {
    return out;
  }
  for (const s of stringsIn(input)) {
    const kind = matchPayload(s);
    if (kind) {
      out.push(countEvent('payload', key, source, e.at, { details: { kind, procedure: e.procedure } }));
      break;
    }
  }
  return out;
}

/** An admin's sign-in from an address none of their other sessions (kept SESSION_RETENTION_DAYS) came from. */
export async function eventsFromAdminLogin(db: Database, e: AdminLoginEvent): Promise<CountEvent[]> {
  const [user] = await db.select({ role: users.role }).from(users).where(eq(users.id, e.userId)).limit(1);
  if (user?.role !== 'admin') return [];
  const [earlier] = await db
    .select({ one: sql<number>`1` })
    .from(sessions)
    .where(and(eq(sessions.userId, e.userId), eq(sessions.ip, e.ip), e.sessionId ? ne(sessions.id, e.sessionId) : undefined))
    .limit(1);
  if (earlier) return [];
  // A first admin sign-in ever has no history to compare with: nothing to flag.
  const [any] = await db
    .select({ one: sql<number>`1` })
    .from(sessions)
    .where(and(eq(sessions.userId, e.userId), e.sessionId ? ne(sessions.id, e.sessionId) : undefined))
    .limit(1);
  if (!any) return [];
  return [countEvent('admin_new_ip', `user:${e.userId}`, { ip: e.ip, userId: e.userId, apiKeyId: null }, e.at, { details: { sessionId: e.sessionId } })];
}

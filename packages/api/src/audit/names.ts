import { inArray } from 'drizzle-orm';
import { apiKeys, users, type Queryable } from '@tapevision/db';
import type { AuditEntry } from '../schemas/audit.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Which kind of name an id has: a user's email or an API key's name (with its owner's email). */
function kindOf(type: string | null): 'user' | 'apikey' | null {
  return type === 'user' ? 'user' : type === 'apikey' ? 'apikey' : null;
}

/**
 * People and keys by email and name, not only by id: two lookups for a whole page, whatever its
 * size. Names are read now (an email changed since shows as it is today); the row keeps the id.
 */
export async function nameAuditEntries(db: Queryable, entries: AuditEntry[]): Promise<AuditEntry[]> {
  const wanted = { user: new Set<string>(), apikey: new Set<string>() };
  for (const e of entries) {
    const actor = kindOf(e.actorType);
    if (actor && e.actorId && UUID.test(e.actorId)) wanted[actor].add(e.actorId);
    const resource = kindOf(e.resourceType);
    if (resource && e.resourceId && UUID.test(e.resourceId)) wanted[resource].add(e.resourceId);
  }
  if (wanted.user.size === 0 && wanted.apikey.size === 0) return entries;
  const keys = wanted.apikey.size
    ? await db.select({ id: apiKeys.id, name: apiKeys.name, userId: apiKeys.userId }).from(apiKeys).where(inArray(apiKeys.id, [...wanted.apikey]))
    : [];
  for (const k of keys) wanted.user.add(k.userId);
  const people = wanted.user.size ? await db.select({ id: users.id, email: users.email }).from(users).where(inArray(users.id, [...wanted.user])) : [];
  const emails = new Map(people.map((p) => [p.id, p.email]));
  const names = {
    user: emails,
    apikey: new Map(keys.map((k) => [k.id, emails.has(k.userId) ? `${k.name} (${emails.get(k.userId)})` : k.name])),
  };
  const nameOf = (type: string | null, id: string | null) => {
    const kind = kindOf(type);
    return kind && id ? (names[kind].get(id) ?? null) : null;
  };
  // Set only when known: an entry without a name keeps exactly its stored shape.
  return entries.map((e) => {
    const actorName = nameOf(e.actorType, e.actorId);
    const resourceName = nameOf(e.resourceType, e.resourceId);
    return { ...e, ...(actorName ? { actorName } : {}), ...(resourceName ? { resourceName } : {}) };
  });
}

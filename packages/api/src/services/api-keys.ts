import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { apiKeys, users, type ApiKey, type EarlierSecret, type EventBus, type User } from '@tapevision/db';
import { auditedTransaction, type RequestOrigin } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';
import { appError } from '../errors.ts';
import { isPermission, roleHasPermission, type Permission } from '../permissions.ts';
import { activeLockdown, lockLockdownShared } from '../security/lockdown/state.ts';
import { onLocalUserChange, SESSION_CACHE_CHANNEL } from './sessions.ts';

export const API_KEY_PREFIX = 'tvk';
// tvk_<10 lower-case alphanumerics>_<43 base64url characters = 256 bits>
const KEY_FORMAT = /^tvk_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$/;
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Permissions a key can never carry: they act on a browser session, which a key does not have. */
export const SESSION_ONLY_PERMISSIONS: readonly Permission[] = ['account.self'];

export type ApiKeyFailure = 'MALFORMED' | 'UNKNOWN' | 'REVOKED' | 'SUSPENDED' | 'EXPIRED' | 'ROLLED' | 'OWNER_INACTIVE';

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  ownerId: string;
  ownerEmail: string | null;
  permissions: Permission[];
  rateLimitPerMinute: number | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  rolledAt: string | null;
  previousExpiresAt: string | null;
  revokedAt: string | null;
  /** Set while an emergency lockdown holds the key (its status is unchanged: the lift restores it). */
  suspendedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function newPrefix(): string {
  const bytes = randomBytes(10);
  return [...bytes].map((b) => PREFIX_ALPHABET[b % PREFIX_ALPHABET.length]).join('');
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function formatKey(prefix: string, secret: string): string {
  return `${API_KEY_PREFIX}_${prefix}_${secret}`;
}

export function parseApiKey(raw: string): { prefix: string; secret: string } | null {
  const match = KEY_FORMAT.exec(raw.trim());
  return match ? { prefix: match[1] as string, secret: match[2] as string } : null;
}

export function toApiKeyView(key: ApiKey, ownerEmail: string | null, now: Date): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    prefix: `${API_KEY_PREFIX}_${key.prefix}`,
    ownerId: key.userId,
    ownerEmail,
    permissions: key.permissions.filter(isPermission),
    rateLimitPerMinute: key.rateLimitPerMinute,
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    rolledAt: key.rolledAt?.toISOString() ?? null,
    previousExpiresAt: lastGraceEnd(key, now),
    revokedAt: key.revokedAt?.toISOString() ?? null,
    suspendedAt: key.suspendedAt?.toISOString() ?? null,
    status: key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt <= now ? 'expired' : 'active',
  };
}

/** When the last old secret still in its grace stops working; null when only the current one works. */
function lastGraceEnd(key: ApiKey, now: Date): string | null {
  const ends = secretsInGrace(key, now).map((s) => Date.parse(s.expiresAt));
  return ends.length ? new Date(Math.max(...ends)).toISOString() : null;
}

/** Who manages keys: their own permissions bound what a new key may carry. */
export interface ApiKeyActor {
  userId: string;
  permissions: ReadonlySet<Permission>;
  origin: RequestOrigin;
  /** Admins manage every key; everyone else only their own. */
  canManageAll: boolean;
}
type Actor = ApiKeyActor;

export async function createApiKey(
  deps: ApiDeps,
  input: { name: string; permissions: Permission[]; expiresAt?: Date | undefined; rateLimit?: number | undefined },
  actor: Actor,
): Promise<{ key: string; apiKey: ApiKeyView }> {
  const now = deps.clock.now();
  const requested = [...new Set(input.permissions)];
  const sessionOnly = requested.filter((p) => SESSION_ONLY_PERMISSIONS.includes(p));
  if (sessionOnly.length) {
    throw appError('BAD_REQUEST', `An API key cannot carry ${sessionOnly.join(', ')}`, { reason: 'SESSION_ONLY_PERMISSION' });
  }
  // A key is a delegation: it can never hold more than the person who made it.
  const beyond = requested.filter((p) => !actor.permissions.has(p));
  if (beyond.length) {
    throw appError('FORBIDDEN', `You cannot grant permissions you do not have: ${beyond.join(', ')}`, {
      reason: 'PERMISSION_EXCEEDS_OWNER',
      permission: beyond[0],
    });
  }
  if (input.expiresAt && input.expiresAt <= now) {
    throw appError('BAD_REQUEST', 'The expiry must be in the future', { reason: 'EXPIRY_IN_PAST' });
  }
  const prefix = newPrefix();
  const secret = newSecret();
  // The key and its audit row commit together.
  const row = await auditedTransaction(deps, async (tx) => {
    // A key made during a lockdown is born suspended by it, and the lift restores it with the rest:
    // "every key suspended" holds for keys the lockdown did not see being made.
    await lockLockdownShared(tx);
    const lockdown = await activeLockdown(tx);
    const [row] = await tx
      .insert(apiKeys)
      .values({
        suspendedAt: lockdown ? now : null,
        suspendedByLockdown: lockdown?.id ?? null,
        userId: actor.userId,
        name: input.name,
        prefix,
        secretHash: hashSecret(secret).toString('hex'),
        permissions: requested,
        rateLimitPerMinute: input.rateLimit ?? null,
        createdAt: now,
        expiresAt: input.expiresAt ?? null,
      })
      .returning();
    if (!row) throw new Error('api key insert returned nothing');
    await deps.audit.recordIn(tx, {
      action: 'apikey.created',
      outcome: 'success',
      actor: { type: 'user', id: actor.userId },
      origin: actor.origin,
      resource: { type: 'apikey', id: row.id },
      details: { name: row.name, prefix: `${API_KEY_PREFIX}_${prefix}`, permissions: requested, expiresAt: row.expiresAt, rateLimit: row.rateLimitPerMinute },
    });
    return row;
  });
  return { key: formatKey(prefix, secret), apiKey: toApiKeyView(row, null, now) };
}

export async function listApiKeys(deps: ApiDeps, actor: Actor): Promise<ApiKeyView[]> {
  const now = deps.clock.now();
  const rows = await deps.db
    .select({ key: apiKeys, email: users.email })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(actor.canManageAll ? undefined : eq(apiKeys.userId, actor.userId))
    .orderBy(desc(apiKeys.createdAt));
  return rows.map((r) => toApiKeyView(r.key, r.email, now));
}

/** The key if the actor may manage it; someone else's key is "not found", never "forbidden". */
async function ownedKey(deps: ApiDeps, id: string, actor: Actor): Promise<ApiKey> {
  const [row] = await deps.db
    .select()
    .from(apiKeys)
    .where(actor.canManageAll ? eq(apiKeys.id, id) : and(eq(apiKeys.id, id), eq(apiKeys.userId, actor.userId)));
  if (!row) throw appError('NOT_FOUND', 'No such API key', { reason: 'API_KEY_NOT_FOUND' });
  return row;
}

export async function revokeApiKey(deps: ApiDeps, id: string, actor: Actor): Promise<ApiKeyView> {
  const key = await ownedKey(deps, id, actor);
  const now = deps.clock.now();
  const [row] = await auditedTransaction(deps, async (tx) => {
    await deps.audit.recordIn(tx, {
      action: 'apikey.revoked',
      outcome: 'success',
      actor: { type: 'user', id: actor.userId },
      origin: actor.origin,
      resource: { type: 'apikey', id },
      details: { prefix: `${API_KEY_PREFIX}_${key.prefix}`, ownerId: key.userId },
    });
    // The previous hash stays, so a grace-period secret is also refused as REVOKED, not unknown.
    return tx.update(apiKeys).set({ revokedAt: key.revokedAt ?? now }).where(eq(apiKeys.id, id)).returning();
  });
  await invalidateApiKey(deps.bus, id);
  return toApiKeyView(row as ApiKey, null, now);
}

/** Secrets a key may have working at once besides its current one (each inside its grace). */
export const MAX_SECRETS_IN_GRACE = 10;

/** Every secret of the key still inside its grace at `now`, latest roll first. */
function secretsInGrace(key: Pick<ApiKey, 'previousSecretHash' | 'previousExpiresAt' | 'earlierSecrets'>, now: Date): EarlierSecret[] {
  const all: EarlierSecret[] = key.previousSecretHash && key.previousExpiresAt ? [{ hash: key.previousSecretHash, expiresAt: key.previousExpiresAt.toISOString() }] : [];
  return [...all, ...key.earlierSecrets].filter((s) => Date.parse(s.expiresAt) > now.getTime());
}

/**
 * A new secret under the same prefix; the one it replaces works for `graceSeconds` more, and every
 * older secret still in its grace keeps the end it was given. Rolls of one key queue on its row
 * lock, so each caller's secret is current or inside its own grace, and the answer is that roll's.
 */
export async function rollApiKey(
  deps: ApiDeps,
  input: { id: string; graceSeconds: number },
  actor: Actor,
): Promise<{ key: string; apiKey: ApiKeyView }> {
  const secret = newSecret();
  const { row, now } = await auditedTransaction(deps, async (tx) => {
    const [key] = await tx
      .select()
      .from(apiKeys)
      .where(actor.canManageAll ? eq(apiKeys.id, input.id) : and(eq(apiKeys.id, input.id), eq(apiKeys.userId, actor.userId)))
      .for('update');
    if (!key) throw appError('NOT_FOUND', 'No such API key', { reason: 'API_KEY_NOT_FOUND' });
    // Read once the lock is held, so rolls are timed in the order they take effect.
    const now = deps.clock.now();
    // Rolling hands out a working secret: an admin may revoke anyone's key, but not take one over.
    if (key.userId !== actor.userId) {
      throw appError('FORBIDDEN', "Only a key's owner can roll it; revoke it instead", { reason: 'NOT_KEY_OWNER' });
    }
    if (key.revokedAt) throw appError('PRECONDITION_FAILED', 'A revoked key cannot be rolled', { reason: 'API_KEY_REVOKED' });
    if (key.expiresAt && key.expiresAt <= now) throw appError('PRECONDITION_FAILED', 'An expired key cannot be rolled', { reason: 'API_KEY_EXPIRED' });
    const earlier = secretsInGrace(key, now);
    if (input.graceSeconds > 0 && earlier.length >= MAX_SECRETS_IN_GRACE) {
      throw appError('PRECONDITION_FAILED', `The key already has ${MAX_SECRETS_IN_GRACE} old secrets in their grace period: wait for one to end, or roll with graceSeconds 0`, {
        reason: 'TOO_MANY_SECRETS_IN_GRACE',
      });
    }
    await deps.audit.recordIn(tx, {
      action: 'apikey.rolled',
      outcome: 'success',
      actor: { type: 'user', id: actor.userId },
      origin: actor.origin,
      resource: { type: 'apikey', id: key.id },
      details: { prefix: `${API_KEY_PREFIX}_${key.prefix}`, graceSeconds: input.graceSeconds },
    });
    const [updated] = await tx
      .update(apiKeys)
      .set({
        secretHash: hashSecret(secret).toString('hex'),
        // Kept even without a grace period (it then ends now), so the old secret is refused as
        // ROLLED, not as an unknown key.
        previousSecretHash: key.secretHash,
        previousExpiresAt: new Date(now.getTime() + input.graceSeconds * 1000),
        earlierSecrets: earlier,
        rolledAt: now,
      })
      .where(eq(apiKeys.id, key.id))
      .returning();
    return { row: updated as ApiKey, now };
  });
  await invalidateApiKey(deps.bus, row.id);
  return { key: formatKey(row.prefix, secret), apiKey: toApiKeyView(row, null, now) };
}

export type ApiKeyCheck =
  | {
      ok: true;
      key: ApiKey;
      owner: User;
      permissions: Set<Permission>;
      viaPreviousSecret: boolean;
      /** For an old secret: when its grace ends. */
      graceEndsAt: Date | null;
    }
  | { ok: false; reason: ApiKeyFailure; keyId?: string; ownerId?: string };

/** The old secret `presented` is, if any: the previous one, or an earlier one still in its grace. */
function oldSecretEnd(key: ApiKey, presented: Buffer): { graceEndsAt: Date } | null {
  if (sameHash(presented, key.previousSecretHash)) return { graceEndsAt: key.previousExpiresAt ?? new Date(0) };
  const earlier = key.earlierSecrets.find((s) => sameHash(presented, s.hash));
  return earlier ? { graceEndsAt: new Date(earlier.expiresAt) } : null;
}

function sameHash(a: Buffer, hex: string | null): boolean {
  if (!hex) return false;
  const b = Buffer.from(hex, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}

/**
 * Checks a presented key on every call. Its rights are the key's permissions that the owner's
 * current role still grants: demote or disable the owner and the key loses them at once.
 */
export async function verifyApiKey(deps: Pick<ApiDeps, 'db' | 'clock'>, raw: string): Promise<ApiKeyCheck> {
  const parsed = parseApiKey(raw);
  if (!parsed) return { ok: false, reason: 'MALFORMED' };
  const [row] = await deps.db
    .select({ key: apiKeys, owner: users })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(eq(apiKeys.prefix, parsed.prefix));
  const presented = hashSecret(parsed.secret);
  if (!row) return { ok: false, reason: 'UNKNOWN' };
  const { key, owner } = row;
  const now = deps.clock.now();
  const current = sameHash(presented, key.secretHash);
  // Which old secret it is, with the end of its own grace (the epoch: rolled with no grace).
  const old = current ? null : oldSecretEnd(key, presented);
  const ids = { keyId: key.id, ownerId: owner.id };
  if (!current && !old) return { ok: false, reason: 'UNKNOWN', ...ids };
  if (key.revokedAt) return { ok: false, reason: 'REVOKED', ...ids };
  if (key.suspendedAt) return { ok: false, reason: 'SUSPENDED', ...ids };
  if (key.expiresAt && key.expiresAt <= now) return { ok: false, reason: 'EXPIRED', ...ids };
  if (old && !(old.graceEndsAt > now)) return { ok: false, reason: 'ROLLED', ...ids };
  if (owner.status !== 'active') return { ok: false, reason: 'OWNER_INACTIVE', ...ids };
  const permissions = new Set(
    key.permissions.filter(isPermission).filter((p) => roleHasPermission(owner.role, p) && !SESSION_ONLY_PERMISSIONS.includes(p)),
  );
  return { ok: true, key, owner, permissions, viaPreviousSecret: old !== null, graceEndsAt: old?.graceEndsAt ?? null };
}

/**
 * verifyApiKey for every call, answered from a per-process copy of the last successful check
 * when it can be. The copy is dropped at once in the process that revokes or rolls a key or
 * changes its owner's role or status, and in every other process through the event bus
 * (API_KEY_CACHE_CHANNEL, and the session cache's channel for owner changes); expiry and the end
 * of a grace period are checked on every hit, and a copy older than CACHE_TTL_MS is re-read.
 */
export async function verifyApiKeyCached(deps: Pick<ApiDeps, 'db' | 'clock' | 'bus'>, raw: string): Promise<ApiKeyCheck> {
  const cache = apiKeyCacheFor(deps.bus);
  const now = deps.clock.now();
  const hit = cache.entries.get(raw);
  if (hit && Date.now() - hit.readAt < CACHE_TTL_MS && stillValid(hit.check, now)) return hit.check;
  const generation = cache.generation;
  const check = await verifyApiKey(deps, raw);
  cache.entries.delete(raw);
  if (check.ok && cache.listening && generation === cache.generation) {
    if (cache.entries.size >= CACHE_MAX_ENTRIES) cache.entries.delete(cache.entries.keys().next().value as string);
    cache.entries.set(raw, { check, readAt: Date.now() });
  }
  return check;
}

type ValidCheck = Extract<ApiKeyCheck, { ok: true }>;

function stillValid({ key, graceEndsAt }: ValidCheck, now: Date): boolean {
  if (key.expiresAt && key.expiresAt <= now) return false;
  return graceEndsAt === null || graceEndsAt > now;
}

export const API_KEY_CACHE_CHANNEL = 'tv_apikey_cache';
const CACHE_TTL_MS = 2_000;
const CACHE_MAX_ENTRIES = 10_000;

interface ApiKeyCache {
  entries: Map<string, { check: ValidCheck; readAt: number }>;
  generation: number;
  listening: boolean;
  drop(match: (check: ValidCheck) => boolean): void;
}

const apiKeyCaches = new WeakMap<EventBus, ApiKeyCache>();

function apiKeyCacheFor(bus: EventBus): ApiKeyCache {
  const existing = apiKeyCaches.get(bus);
  if (existing) return existing;
  const cache: ApiKeyCache = {
    entries: new Map(),
    generation: 0,
    listening: false,
    drop(match) {
      cache.generation += 1;
      for (const [raw, entry] of cache.entries) if (match(entry.check)) cache.entries.delete(raw);
    },
  };
  apiKeyCaches.set(bus, cache);
  onLocalUserChange(bus, (userId) => cache.drop((c) => c.owner.id === userId));
  const field = (event: unknown, name: string) => {
    const value = (event as Record<string, unknown> | null)?.[name];
    return typeof value === 'string' ? value : null;
  };
  Promise.all([
    bus.subscribe(API_KEY_CACHE_CHANNEL, (event) => {
      const id = field(event, 'apiKeyId');
      if (id) cache.drop((c) => c.key.id === id);
    }),
    // Owner changes (role, status) go out on the session cache's channel.
    bus.subscribe(SESSION_CACHE_CHANNEL, (event) => {
      const userId = field(event, 'userId');
      if (userId) cache.drop((c) => c.owner.id === userId);
    }),
  ]).then(
    () => {
      cache.listening = true;
    },
    // Without the bus no other process could reach this cache: every call reads the row.
    () => {},
  );
  return cache;
}

/** Tells every process that these keys changed (suspended, restored), after the commit. */
export async function announceApiKeysChanged(bus: EventBus, ids: string[]): Promise<void> {
  for (const id of ids) await invalidateApiKey(bus, id);
}

/** Tells every process that this key changed (revoked, rolled). */
async function invalidateApiKey(bus: EventBus, apiKeyId: string): Promise<void> {
  apiKeyCacheFor(bus).drop((c) => c.key.id === apiKeyId);
  await bus.publish(API_KEY_CACHE_CHANNEL, { apiKeyId });
}

export const API_KEY_FAILURE_MESSAGES: Record<ApiKeyFailure, string> = {
  MALFORMED: 'The API key is malformed: expected tvk_<prefix>_<secret>',
  UNKNOWN: 'The API key is not valid',
  REVOKED: 'The API key has been revoked',
  SUSPENDED: 'The API key is suspended while the platform is in emergency lockdown',
  EXPIRED: 'The API key has expired',
  ROLLED: 'The API key was rolled and its grace period is over: use the new key',
  OWNER_INACTIVE: 'The API key is not valid',
};

/**
 * Remembers when each key was last used and writes it in the background: one UPDATE per key per
 * flush instead of a database write on every call.
 */
export function createLastUsedTracker(deps: Pick<ApiDeps, 'db' | 'logger'>, flushEveryMs = 15_000) {
  const pending = new Map<string, Date>();
  async function flush() {
    const batch = [...pending];
    pending.clear();
    for (const [id, at] of batch) {
      try {
        await deps.db.update(apiKeys).set({ lastUsedAt: at }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)));
      } catch (err) {
        deps.logger.warn({ err, apiKeyId: id }, 'could not record API key last use');
      }
    }
  }
  const timer = setInterval(() => void flush(), flushEveryMs);
  timer.unref();
  return {
    touch(id: string, at: Date) {
      pending.set(id, at);
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}

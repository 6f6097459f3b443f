import type { Permission, Role } from '../permissions.ts';
import { permissionsFor } from '../permissions.ts';
import type { User } from '@tapevision/db';

interface PrincipalBase {
  /** The user acting, or on whose behalf an API key acts. */
  userId: string;
  email: string;
  role: Role;
  permissions: ReadonlySet<Permission>;
  mustChangePassword: boolean;
}

/** A signed-in person, resolved afresh on every request from the live session row. */
export interface SessionPrincipal extends PrincipalBase {
  kind: 'user';
  sessionId: string;
}

/** A service calling with an API key: the key's permissions that its owner still holds. */
export interface ApiKeyPrincipal extends PrincipalBase {
  kind: 'apikey';
  sessionId: null;
  apiKeyId: string;
  apiKeyPrefix: string;
  rateLimitPerMinute: number | null;
}

export type Principal = SessionPrincipal | ApiKeyPrincipal;

/** What rate limits and connection caps count by. */
export function principalKey(p: Principal): string {
  return p.kind === 'apikey' ? `k:${p.apiKeyId}` : `u:${p.userId}`;
}

export function apiKeyPrincipalFor(
  key: { id: string; prefix: string; rateLimitPerMinute: number | null },
  owner: User,
  permissions: ReadonlySet<Permission>,
): ApiKeyPrincipal {
  return {
    kind: 'apikey',
    userId: owner.id,
    email: owner.email,
    role: owner.role,
    sessionId: null,
    apiKeyId: key.id,
    apiKeyPrefix: key.prefix,
    rateLimitPerMinute: key.rateLimitPerMinute,
    permissions,
    mustChangePassword: false,
  };
}

export function principalFor(user: User, sessionId: string): SessionPrincipal {
  return {
    kind: 'user',
    userId: user.id,
    email: user.email,
    role: user.role,
    sessionId,
    permissions: new Set(permissionsFor(user.role)),
    mustChangePassword: user.mustChangePassword,
  };
}

export interface PublicUser {
  id: string;
  email: string;
  role: Role;
  status: 'active' | 'disabled';
  mustChangePassword: boolean;
  lockedUntil: string | null;
  lastLoginAt: string | null;
  createdAt: string;
}

/** The only shape in which a user leaves the server: no hash, no counters. */
export function toPublicUser(user: User): PublicUser {
  return {
    id: user.id,
    email: user.email,
    role: user.role,
    status: user.status,
    mustChangePassword: user.mustChangePassword,
    lockedUntil: user.lockedUntil?.toISOString() ?? null,
    lastLoginAt: user.lastLoginAt?.toISOString() ?? null,
    createdAt: user.createdAt.toISOString(),
  };
}

import type { Permission, Role } from '../permissions.ts';
import { permissionsFor } from '../permissions.ts';
import type { User } from '@tapevision/db';

/** Who is calling, resolved afresh on every request from the live session row. */
export interface Principal {
  kind: 'user';
  userId: string;
  email: string;
  role: Role;
  sessionId: string;
  permissions: ReadonlySet<Permission>;
  mustChangePassword: boolean;
}

export function principalFor(user: User, sessionId: string): Principal {
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

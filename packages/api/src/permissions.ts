/**
 * The one permission matrix. Permission names come from the trading platforms we learn from;
 * `account.self` is ours: acting on one's own account and sessions, which every role may do.
 */
export const PERMISSIONS = [
  'account.self',
  'system.start',
  'system.stop',
  'system.configure',
  'trading.execute',
  'trading.view',
  // Every account's orders, fills, positions and alerts, not only one's own: the desk's overseers.
  'accounts.view',
  'positions.manage',
  'users.manage',
  'logs.view',
  'metrics.view',
  'alerts.view',
  'apikeys.manage',
  'bots.read',
  'bots.write',
  'bots.delete',
  // Blocks, incidents, lockdown and the desk-wide kill switch: the security officer's controls.
  'security.manage',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['admin', 'trader', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

const MATRIX: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  trader: [
    'account.self',
    'trading.execute',
    'trading.view',
    'positions.manage',
    'alerts.view',
    'apikeys.manage',
    'bots.read',
    'bots.write',
    'bots.delete',
  ],
  viewer: ['account.self', 'trading.view', 'accounts.view', 'alerts.view', 'bots.read', 'metrics.view'],
};

const SETS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(MATRIX.admin),
  trader: new Set(MATRIX.trader),
  viewer: new Set(MATRIX.viewer),
};

export function permissionsFor(role: Role): Permission[] {
  return [...MATRIX[role]];
}

export function roleHasPermission(role: Role, permission: Permission): boolean {
  return SETS[role].has(permission);
}

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}

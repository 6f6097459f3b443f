import { describe, expect, it } from 'vitest';
import { isPermission, PERMISSIONS, permissionsFor, roleHasPermission, ROLES, type Permission } from './permissions.ts';

const TRADER: Permission[] = [
  'account.self',
  'trading.execute',
  'trading.view',
  'positions.manage',
  'alerts.view',
  'apikeys.manage',
  'bots.read',
  'bots.write',
  'bots.delete',
];

/** Anything that changes state or reaches beyond one's own account. */
const WRITES: Permission[] = [
  'system.start',
  'system.stop',
  'system.configure',
  'trading.execute',
  'positions.manage',
  'users.manage',
  'apikeys.manage',
  'bots.write',
  'bots.delete',
];

describe('the permission matrix', () => {
  it('knows exactly the three roles and the platform permissions', () => {
    expect([...ROLES]).toEqual(['admin', 'trader', 'viewer']);
    expect(new Set(PERMISSIONS).size).toBe(PERMISSIONS.length);
    expect([...PERMISSIONS].sort()).toEqual(
      [
        'account.self',
        'system.start',
        'system.stop',
        'system.configure',
        'trading.execute',
        'trading.view',
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
        'security.manage',
      ].sort(),
    );
  });

  it('gives admin every permission', () => {
    expect(permissionsFor('admin').sort()).toEqual([...PERMISSIONS].sort());
    for (const p of PERMISSIONS) expect(roleHasPermission('admin', p), p).toBe(true);
  });

  it('gives trader exactly its trading set, and no user, system or log administration', () => {
    expect(permissionsFor('trader').sort()).toEqual([...TRADER].sort());
    for (const p of PERMISSIONS) expect(roleHasPermission('trader', p), p).toBe(TRADER.includes(p));
    for (const p of ['users.manage', 'system.start', 'system.stop', 'system.configure', 'logs.view'] as const) {
      expect(roleHasPermission('trader', p), p).toBe(false);
    }
  });

  it('gives viewer read-only views and its own account, nothing that writes', () => {
    const viewer = permissionsFor('viewer');
    expect(viewer).toContain('account.self');
    expect(viewer).toEqual(expect.arrayContaining(['trading.view', 'alerts.view', 'bots.read']));
    for (const p of viewer) {
      expect(p === 'account.self' || /\.(view|read)$/.test(p), p).toBe(true);
    }
    for (const p of WRITES) expect(roleHasPermission('viewer', p), p).toBe(false);
    // A viewer sees no more than a trader, except metrics the desk shares and every account (it oversees).
    expect(viewer.filter((p) => !TRADER.includes(p)).sort()).toEqual(['accounts.view', 'metrics.view']);
  });

  it('grants account.self to every role', () => {
    for (const role of ROLES) expect(roleHasPermission(role, 'account.self'), role).toBe(true);
  });

  it('keeps users.manage for admin alone', () => {
    expect(ROLES.filter((r) => roleHasPermission(r, 'users.manage'))).toEqual(['admin']);
  });

  it('hands out copies: changing a returned list changes nobody', () => {
    const list = permissionsFor('viewer');
    list.push('users.manage');
    expect(permissionsFor('viewer')).not.toContain('users.manage');
    expect(roleHasPermission('viewer', 'users.manage')).toBe(false);
    const all = permissionsFor('admin');
    all.length = 0;
    expect(permissionsFor('admin')).toHaveLength(PERMISSIONS.length);
  });

  it('only recognises declared permission names', () => {
    for (const p of PERMISSIONS) expect(isPermission(p)).toBe(true);
    for (const bad of ['users.admin', 'USERS.MANAGE', 'users.manage ', '', 'admin', '*', 'constructor', '__proto__']) {
      expect(isPermission(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('answers false, not a crash, for a permission that does not exist', () => {
    expect(() => roleHasPermission('viewer', 'not.a.permission' as Permission)).not.toThrow();
    expect(roleHasPermission('viewer', 'not.a.permission' as Permission)).toBe(false);
  });
});

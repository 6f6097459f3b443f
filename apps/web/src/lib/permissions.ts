import type { Permission } from '@tapevision/api/schemas';

/** What each permission lets a person do, in plain words. */
export const PERMISSION_DESCRIPTIONS: Record<Permission, string> = {
  'account.self': 'Manage your own account and signed-in sessions',
  'system.start': 'Start the trading system',
  'system.stop': 'Stop the trading system',
  'system.configure': 'Change the system configuration',
  'trading.execute': 'Place and cancel orders',
  'trading.view': 'See markets, orders and fills',
  'accounts.view': "See every account's orders, fills, positions and alerts",
  'positions.manage': 'Adjust and close positions',
  'users.manage': 'Create users, change roles, reset passwords and end sessions',
  'logs.view': 'Read system logs',
  'metrics.view': 'See performance metrics',
  'alerts.view': 'See alerts',
  'apikeys.manage': 'Create, roll and revoke API keys for services',
  'bots.read': 'See trading bots',
  'bots.write': 'Create and change trading bots',
  'bots.delete': 'Delete trading bots',
  'security.manage': 'Block IPs, handle incidents, lock the platform down and flatten every account',
};

export function describePermission(permission: string): string {
  return (PERMISSION_DESCRIPTIONS as Record<string, string>)[permission] ?? permission;
}

// Browser-safe: the SPA validates forms with exactly these schemas.
export * from './auth.ts';
export * from './password.ts';
export * from './users.ts';
export { PERMISSIONS, ROLES, permissionsFor, roleHasPermission, type Permission, type Role } from '../permissions.ts';
export * from './api-keys.ts';
export * from './audit.ts';
export * from './system.ts';
export * from './market.ts';
export * from './trading.ts';
export * from './bots.ts';
export * from './text.ts';

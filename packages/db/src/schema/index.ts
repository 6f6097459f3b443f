export * from './users.ts';
export * from './sessions.ts';
export * from './audit.ts';
export * from './throttles.ts';
export * from './api-keys.ts';
export * from './engine.ts';
export * from './trading.ts';
export * from './security-alerts.ts';

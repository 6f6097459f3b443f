export * from './client.ts';
export * from './availability.ts';
export * from './event-bus.ts';
export type { HeldLock } from './advisory-lock.ts';
export * as schema from './schema/index.ts';
export * from './schema/index.ts';
export * from './query-rows.ts';
// Raw SQL for callers outside this package (scripts, tests), from the same drizzle-orm instance.
export { sql } from 'drizzle-orm';
export * from './scratch-database.ts';

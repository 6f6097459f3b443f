export * from './client.ts';
export * from './event-bus.ts';
export * as schema from './schema/index.ts';
export * from './schema/index.ts';

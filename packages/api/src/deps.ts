import type { Database, EventBus } from '@tapevision/db';
import type { Logger } from 'pino';
import type { AuditRecorder } from './audit/recorder.ts';
import type { SecurityConfig } from './config.ts';
import type { PasswordHasher } from './services/passwords.ts';
import type { TokenService } from './services/tokens.ts';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Everything a procedure's service call may need; built once per process, shared by every request. */
export interface ApiDeps {
  db: Database;
  bus: EventBus;
  clock: Clock;
  config: SecurityConfig;
  tokens: TokenService;
  passwords: PasswordHasher;
  audit: AuditRecorder;
  logger: Logger;
}

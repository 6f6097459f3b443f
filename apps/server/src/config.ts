import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRateLimitPolicies, defaultSecurityConfig, type RateLimitPolicies, type SecurityConfig } from '@tapevision/api';
import { defaultWsLimits, type WsLimits } from './ws-guard.ts';

export interface ServerConfig {
  port: number;
  host: string;
  production: boolean;
  dataDir: string;
  databaseUrl: string | undefined;
  trustProxy: boolean;
  webDist: string;
  admin: { email: string; password: string | undefined };
  security: SecurityConfig;
  /** Redis for rate limits shared by every process; in-memory limits without it. */
  redisUrl: string | undefined;
  rateLimits: RateLimitPolicies;
  wsLimits: WsLimits;
  /** Largest HTTP request body and WebSocket message accepted, in bytes. */
  maxBodyBytes: number;
  maxWsMessageBytes: number;
}

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number of at least ${min} (got "${raw}")`);
  return value;
}

const MINUTE = 60_000;

/** Reads the environment once at start-up; a bad value stops the process with a clear message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const d = defaultSecurityConfig;
  return {
    port: int(env, 'PORT', 3000, 0),
    host: env.HOST ?? '0.0.0.0',
    production: env.NODE_ENV === 'production',
    dataDir: path.resolve(env.DATA_DIR ?? path.join(repoRoot, 'data')),
    databaseUrl: env.DATABASE_URL || undefined,
    trustProxy: env.TRUST_PROXY === '1' || env.TRUST_PROXY === 'true',
    webDist: path.resolve(env.WEB_DIST ?? path.join(repoRoot, 'apps/web/dist')),
    admin: { email: env.ADMIN_EMAIL ?? 'admin@tapevision.local', password: env.ADMIN_PASSWORD || undefined },
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 256 * 1024),
    redisUrl: env.REDIS_URL || undefined,
    rateLimits: {
      login: {
        points: int(env, 'RATE_LIMIT_LOGIN', defaultRateLimitPolicies.login.points),
        durationSeconds: int(env, 'RATE_LIMIT_LOGIN_WINDOW_SECONDS', defaultRateLimitPolicies.login.durationSeconds),
      },
      'trading.execute': {
        points: int(env, 'RATE_LIMIT_TRADING', defaultRateLimitPolicies['trading.execute'].points),
        durationSeconds: int(env, 'RATE_LIMIT_TRADING_WINDOW_SECONDS', defaultRateLimitPolicies['trading.execute'].durationSeconds),
      },
      api: {
        points: int(env, 'RATE_LIMIT_API', defaultRateLimitPolicies.api.points),
        durationSeconds: int(env, 'RATE_LIMIT_API_WINDOW_SECONDS', defaultRateLimitPolicies.api.durationSeconds),
      },
    },
    wsLimits: {
      messagesPerMinute: int(env, 'WS_MESSAGES_PER_MINUTE', defaultWsLimits.messagesPerMinute),
      maxSubscriptions: int(env, 'WS_MAX_SUBSCRIPTIONS', defaultWsLimits.maxSubscriptions),
      maxConnectionsPerPrincipal: int(env, 'WS_MAX_CONNECTIONS_PER_PRINCIPAL', defaultWsLimits.maxConnectionsPerPrincipal),
      authTimeoutMs: int(env, 'WS_AUTH_TIMEOUT_MS', defaultWsLimits.authTimeoutMs),
      maxViolationsPerMinute: int(env, 'WS_MAX_VIOLATIONS_PER_MINUTE', defaultWsLimits.maxViolationsPerMinute),
    },
    maxWsMessageBytes: int(env, 'WS_MAX_MESSAGE_BYTES', 64 * 1024),
    security: {
      ...d,
      sessionIdleMs: int(env, 'SESSION_IDLE_MINUTES', d.sessionIdleMs / MINUTE) * MINUTE,
      sessionAbsoluteMs: int(env, 'SESSION_ABSOLUTE_HOURS', d.sessionAbsoluteMs / (60 * MINUTE)) * 60 * MINUTE,
      maxSessionsPerUser: int(env, 'MAX_SESSIONS_PER_USER', d.maxSessionsPerUser),
      accountLockout: {
        maxFailures: int(env, 'LOCKOUT_MAX_FAILURES', d.accountLockout.maxFailures),
        windowMs: int(env, 'LOCKOUT_WINDOW_MINUTES', d.accountLockout.windowMs / MINUTE) * MINUTE,
        lockMs: int(env, 'LOCKOUT_MINUTES', d.accountLockout.lockMs / MINUTE) * MINUTE,
      },
      ipThrottle: {
        maxFailures: int(env, 'IP_THROTTLE_MAX_FAILURES', d.ipThrottle.maxFailures),
        windowMs: int(env, 'IP_THROTTLE_WINDOW_MINUTES', d.ipThrottle.windowMs / MINUTE) * MINUTE,
        blockMs: int(env, 'IP_THROTTLE_MINUTES', d.ipThrottle.blockMs / MINUTE) * MINUTE,
      },
    },
  };
}

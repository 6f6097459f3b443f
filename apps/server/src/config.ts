import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRateLimitPolicies, defaultSecurityConfig, parseCidr, parseDetectionEnabled, parseDetectionRules, type DetectionRules, type HousekeepingConfig, type RateLimitPolicies, type SecurityConfig, type SecurityWebhookConfig } from '@tapevision/api';
import { defaultPostgresTimeouts, type PostgresTimeouts } from '@tapevision/db';
import { defaultWsLimits, type WsLimits } from './ws-guard.ts';
import { defaultHttpLimits, type HttpLimits } from './http-limits.ts';

export interface ServerConfig {
  port: number;
  host: string;
  production: boolean;
  dataDir: string;
  databaseUrl: string | undefined;
  /** How long a call waits for Postgres before it is refused with 503 (see README, Configuration). */
  databaseTimeouts: PostgresTimeouts;
  trustProxy: boolean;
  /** Browser origins besides the app's own (its Host) that may open the WebSocket (ALLOWED_ORIGINS). */
  allowedOrigins: string[];
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
  /** Node's timeouts, connections per IP, calls per batch. */
  http: HttpLimits;
  audit: AuditConfig;
  market: MarketConfig;
  /** The purge of ended sessions and spent throttle rows (one process at a time). */
  housekeeping: HousekeepingConfig;
  /** SECURITY_WEBHOOK_*: delivery of security alerts from the outbox. */
  securityWebhook: SecurityWebhookConfig;
  /** ENCRYPTION_KEY / ENCRYPTION_KEY_FILE as given; read into a keyring at start-up. */
  encryption: { key: string | undefined; keyFile: string | undefined };
  /** Incidents: the correlation window (INCIDENT_CORRELATION_MINUTES) and INCIDENT_AUTO_LOCKDOWN=1. */
  incidents: { correlationWindowMs: number; autoLockdown: boolean };
  /** Intrusion detection: DETECTION_ENABLED and the rules table with DETECTION_RULES applied. */
  detection: { enabled: boolean; rules: DetectionRules };
}

export interface MarketConfig {
  /** Seed of the simulator's random walk: same seed, same tape. */
  seed: number;
  printsPerSecond: number;
  /** Prints each process keeps for subscribers that resume with a lastEventId. */
  bufferSize: number;
  /** How often a process that does not produce the tape tries to take over. */
  leaderRetryMs: number;
  /** Ticks against the taker on paper market orders (buys higher, sells lower). */
  slippageTicks: number;
}

export interface AuditConfig {
  /** Flush at this many queued rows... */
  batchSize: number;
  /** ...or this long after the first. */
  flushIntervalMs: number;
  /** Rows kept in memory while the database is away; more go to DATA_DIR/audit-spool. */
  maxQueue: number;
  /** Rows older than this are removed (with an anchor, so the rest still verifies); 0 keeps all. */
  retentionDays: number;
  /** How long shutdown waits for the database to take queued rows; the rest stays in the spool. */
  shutdownFlushMs: number;
  /** Minutes between signed checkpoints of the chains' heads (DATA_DIR/audit-checkpoints). */
  checkpointMinutes: number;
  /** AUDIT_KEY / AUDIT_KEY_FILE as given; read into a keyring at start-up. */
  key: string | undefined;
  keyFile: string | undefined;
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

// Compared as the browser sends them (scheme://host[:port]), so each entry is normalised the same way.
function origins(raw: string | undefined): string[] {
  if (!raw) return [];
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      let url: URL;
      try {
        url = new URL(o);
      } catch {
        throw new Error(`ALLOWED_ORIGINS: "${o}" is not an origin (expected e.g. https://desk.example.com)`);
      }
      if (url.origin === 'null') throw new Error(`ALLOWED_ORIGINS: "${o}" is not an http(s) origin`);
      return url.origin;
    });
}

// Normalised as blocks are (cidr.ts), so an entry covers a block however either is spelt.
// Unset: loopback (the default); set but empty: nothing at all is allowlisted.
function allowlist(raw: string | undefined): string[] {
  if (raw === undefined) return [...defaultSecurityConfig.ipAllowlist];
  if (raw.trim() === '') return [];
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const cidr = parseCidr(entry);
      if (!cidr) throw new Error(`SECURITY_ALLOWLIST: "${entry}" is not an IP address or CIDR (expected e.g. 10.0.0.0/8,2001:db8::/32)`);
      return cidr.text;
    });
}

function httpLimits(env: NodeJS.ProcessEnv): HttpLimits {
  const d = defaultHttpLimits;
  const limits: HttpLimits = {
    headersTimeoutMs: int(env, 'HTTP_HEADERS_TIMEOUT_MS', d.headersTimeoutMs, 100),
    requestTimeoutMs: int(env, 'HTTP_REQUEST_TIMEOUT_MS', d.requestTimeoutMs, 100),
    keepAliveTimeoutMs: int(env, 'HTTP_KEEPALIVE_TIMEOUT_MS', d.keepAliveTimeoutMs, 100),
    maxConnectionsPerIp: int(env, 'MAX_CONNECTIONS_PER_IP', d.maxConnectionsPerIp, 0),
    maxBatchSize: int(env, 'MAX_BATCH_SIZE', d.maxBatchSize),
  };
  // Node cuts a request at whichever comes first: headers later than the whole request means nothing.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new Error('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');
  return limits;
}

/** Reads the environment once at start-up; a bad value stops the process with a clear message. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const d = defaultSecurityConfig;
  return {
    port: int(env, 'PORT', 3000, 0),
    host: env.HOST ?? '0.0.0.0',
    production: env.NODE_ENV === 'production',
    dataDir: path.resolve(env.DATA_DIR ?? path.join(repoRoot, 'data')),
    databaseUrl: env.DATABASE_URL || undefined,
    databaseTimeouts: {
      ...defaultPostgresTimeouts,
      connectMs: int(env, 'DATABASE_CONNECT_TIMEOUT_MS', defaultPostgresTimeouts.connectMs),
      acquireMs: int(env, 'DATABASE_ACQUIRE_TIMEOUT_MS', defaultPostgresTimeouts.acquireMs),
      statementMs: int(env, 'DATABASE_STATEMENT_TIMEOUT_MS', defaultPostgresTimeouts.statementMs, 0),
      lockMs: int(env, 'DATABASE_LOCK_TIMEOUT_MS', defaultPostgresTimeouts.lockMs, 0),
      idleInTransactionMs: int(env, 'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', defaultPostgresTimeouts.idleInTransactionMs, 0),
    },
    trustProxy: env.TRUST_PROXY === '1' || env.TRUST_PROXY === 'true',
    allowedOrigins: origins(env.ALLOWED_ORIGINS),
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
      'trading.reduce': {
        points: int(env, 'RATE_LIMIT_TRADING_REDUCE', defaultRateLimitPolicies['trading.reduce'].points),
        durationSeconds: int(env, 'RATE_LIMIT_TRADING_REDUCE_WINDOW_SECONDS', defaultRateLimitPolicies['trading.reduce'].durationSeconds),
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
    http: httpLimits(env),
    audit: {
      batchSize: int(env, 'AUDIT_BATCH_SIZE', 100),
      flushIntervalMs: int(env, 'AUDIT_FLUSH_MS', 250),
      maxQueue: int(env, 'AUDIT_MAX_QUEUE', 10_000),
      retentionDays: int(env, 'AUDIT_RETENTION_DAYS', 0, 0),
      shutdownFlushMs: int(env, 'AUDIT_SHUTDOWN_FLUSH_MS', 10_000, 0),
      checkpointMinutes: int(env, 'AUDIT_CHECKPOINT_MINUTES', 5),
      key: env.AUDIT_KEY || undefined,
      keyFile: env.AUDIT_KEY_FILE || undefined,
    },
    housekeeping: {
      intervalMs: int(env, 'HOUSEKEEPING_INTERVAL_SECONDS', 3_600) * 1000,
      sessionRetentionMs: int(env, 'SESSION_RETENTION_DAYS', 7, 0) * 24 * 60 * MINUTE,
    },
    securityWebhook: {
      url: env.SECURITY_WEBHOOK_URL || undefined,
      secret: env.SECURITY_WEBHOOK_SECRET || undefined,
      timeoutMs: int(env, 'SECURITY_WEBHOOK_TIMEOUT_MS', 5_000, 100),
      backoffBaseMs: int(env, 'SECURITY_WEBHOOK_BACKOFF_MS', 1_000, 10),
      backoffMaxMs: int(env, 'SECURITY_WEBHOOK_BACKOFF_MAX_MS', 300_000, 10),
      pollMs: int(env, 'SECURITY_WEBHOOK_POLL_MS', 2_000, 50),
    },
    encryption: { key: env.ENCRYPTION_KEY || undefined, keyFile: env.ENCRYPTION_KEY_FILE || undefined },
    incidents: {
      correlationWindowMs: int(env, 'INCIDENT_CORRELATION_MINUTES', 30) * MINUTE,
      autoLockdown: env.INCIDENT_AUTO_LOCKDOWN === '1' || env.INCIDENT_AUTO_LOCKDOWN === 'true',
    },
    detection: { enabled: parseDetectionEnabled(env.DETECTION_ENABLED), rules: parseDetectionRules(env.DETECTION_RULES) },
    market: {
      seed: int(env, 'MARKET_SEED', 20_240_601, 0),
      printsPerSecond: int(env, 'MARKET_PRINTS_PER_SECOND', 4),
      bufferSize: int(env, 'MARKET_BUFFER_SIZE', 5_000),
      leaderRetryMs: int(env, 'MARKET_LEADER_RETRY_MS', 2_000, 100),
      slippageTicks: int(env, 'MARKET_SLIPPAGE_TICKS', 1, 0),
    },
    security: {
      ...d,
      sessionIdleMs: int(env, 'SESSION_IDLE_MINUTES', d.sessionIdleMs / MINUTE) * MINUTE,
      sessionAbsoluteMs: int(env, 'SESSION_ABSOLUTE_HOURS', d.sessionAbsoluteMs / (60 * MINUTE)) * 60 * MINUTE,
      maxSessionsPerUser: int(env, 'MAX_SESSIONS_PER_USER', d.maxSessionsPerUser),
      passwordHashConcurrency: int(env, 'PASSWORD_HASH_CONCURRENCY', d.passwordHashConcurrency),
      // Loopback is not implied: a local attacker (or a test) is blocked like any other address.
      ipAllowlist: allowlist(env.SECURITY_ALLOWLIST),
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

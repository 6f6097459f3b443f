import type { Database, EventBus } from '@tapevision/db';
import type { Logger } from 'pino';
import type { AuditRecorder } from './audit/recorder.ts';
import type { SecurityConfig } from './config.ts';
import type { PasswordHasher } from './services/passwords.ts';
import type { TokenService } from './services/tokens.ts';
import type { MarketTape } from './services/market-tape.ts';
import type { RateLimiter } from './rate-limit/limiter.ts';
import type { RateLimitPolicies } from './rate-limit/policies.ts';
import type { createDenialAuditor } from './rate-limit/denial-audit.ts';
import type { Keyring } from './crypto/secret-box.ts';
import type { Broker } from './trading/broker.ts';
import type { AuditIntegrity } from './audit/integrity.ts';
import type { TradingEventFeed } from './services/trading-events.ts';
import type { SecurityResponse } from './security/response.ts';
import type { DetectionSink } from './security/detection/detector.ts';

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
  rateLimits: RateLimitDeps;
  /** Buffers API keys' last-use times; written in the background, not per call. */
  apiKeyUsage: {
    touch(apiKeyId: string, at: Date): void;
    /** Writes what is buffered now (it also runs on a timer and at shutdown). */
    flush(): Promise<void>;
  };
  /** This process's copy of the tape, fed from the bus by whichever process produces it. */
  market: Pick<MarketTape, 'after' | 'lastId' | 'lastPrices' | 'onPrint' | 'listenerCount'>;
  /** Keys for secrets at rest (bot credentials): ENCRYPTION_KEY, or a generated dev key. */
  keyring: Keyring;
  /** The audit key (AUDIT_KEY, or a generated dev key) and the checkpoint files audit.verify checks against. */
  auditIntegrity: AuditIntegrity;
  /** Where market orders go: the paper broker on the shared tape (a real adapter would be another Broker). */
  broker: Broker;
  /** Order updates, fills and alerts as they commit on any process, read once per process. */
  tradingEvents: Pick<TradingEventFeed, 'cursor' | 'onEvent'>;
  /** Blocks, suspicious flags, ended sessions, lockdown and alerts: what detection may do about an attack. */
  securityResponse: SecurityResponse;
  /** Intrusion detection's intake: pushes onto an in-process queue, never awaited by a request. */
  detection: DetectionSink;
}

export interface RateLimitDeps {
  limiter: RateLimiter;
  policies: RateLimitPolicies;
  denials: ReturnType<typeof createDenialAuditor>;
  /**
   * Scales every limit for a caller's IP: 1 normally, 0.5 halves them. The hook a later issue uses
   * for IPs flagged as suspicious.
   */
  limitFactor(ip: string | null): number | Promise<number>;
}

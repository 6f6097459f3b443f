import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { defaultRateLimitPolicies, defaultSecurityConfig, type SecurityActionRecorder, type Clock, type HousekeepingConfig, type RateLimitPolicies, type SecurityConfig } from '@tapevision/api';
import { createScratchDatabase } from '@tapevision/db';
import { createApp, createLogger, loadConfig, type App } from '../../src/index.ts';
import type { WsLimits } from '../../src/ws-guard.ts';
import type { HttpLimits } from '../../src/http-limits.ts';
import type { AuditConfig, MarketConfig, ServerConfig } from '../../src/config.ts';

/** A clock tests can move forward, to cross grace windows and session timeouts without waiting. */
export class TestClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface TestServer {
  app: App;
  url: string;
  trpcUrl: string;
  wsUrl: string;
  clock: TestClock;
  logs: string[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface TestServerOptions {
  security?: Partial<SecurityConfig>;
  webDist?: string;
  trustProxy?: boolean;
  /** ALLOWED_ORIGINS: browser origins besides the server's own that may open the WebSocket. */
  allowedOrigins?: string[];
  /** Share one database between several servers (the multi-process tests). */
  databaseUrl?: string;
  /** A known JWT secret (forging tests); a random one when omitted. */
  jwtSecret?: Uint8Array;
  rateLimits?: Partial<RateLimitPolicies>;
  wsLimits?: Partial<WsLimits>;
  /** Rate limits in this Redis instead of memory. */
  redisUrl?: string;
  limitFactor?: (ip: string | null) => number;
  audit?: Partial<AuditConfig>;
  /** DATA_DIR (the audit spool lives there); a fresh temporary one when omitted. */
  dataDir?: string;
  /** The tape: a fast rate and a short leader retry for tests that watch prints and hand-overs. */
  market?: Partial<MarketConfig>;
  /** AUDIT_KEY; TEST_AUDIT_KEY when omitted, so servers sharing a database verify each other's chains. */
  auditKey?: string;
  /** The purge job: its interval and how long ended sessions are kept. */
  housekeeping?: Partial<HousekeepingConfig>;
  /** Node's timeouts, connections per IP, calls per batch. */
  http?: Partial<HttpLimits>;
  /** Incidents: the correlation window and INCIDENT_AUTO_LOCKDOWN. */
  incidents?: Partial<ServerConfig['incidents']>;
  /** Intrusion detection: DETECTION_ENABLED and rule overrides (lower thresholds and windows for tests). */
  detection?: { enabled?: boolean; rules?: Partial<{ [R in keyof ServerConfig['detection']['rules']]: Partial<ServerConfig['detection']['rules'][R]> }> };
  /** Sees every action asked of deps.securityResponse, and may answer it (app.ts recordSecurityActions). */
  recordSecurityActions?: SecurityActionRecorder;
  /** The security webhook: its URL, secret and a fast backoff. */
  securityWebhook?: Partial<ServerConfig['securityWebhook']>;
}

/** The audit key test servers share unless told otherwise (as processes on one database must). */
export const TEST_AUDIT_KEY = `test:${Buffer.alloc(32, 7).toString('base64url')}`;

/**
 * A real server on an ephemeral port: PGlite in memory by default, or a fresh database on the
 * Postgres named by TEST_DATABASE_URL, dropped again on close.
 */
export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const fresh = opts.databaseUrl ? null : process.env.TEST_DATABASE_URL ? await createFreshDatabase(process.env.TEST_DATABASE_URL) : null;
  const databaseUrl = opts.databaseUrl ?? fresh?.url;
  const logs: string[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  });
  const base = loadConfig({});
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'tv-server-'));
  const config = {
    ...base,
    dataDir,
    audit: { ...base.audit, key: opts.auditKey ?? TEST_AUDIT_KEY, ...opts.audit },
    market: { ...base.market, ...opts.market },
    housekeeping: { ...base.housekeeping, ...opts.housekeeping },
    securityWebhook: { ...base.securityWebhook, ...opts.securityWebhook },
    port: 0,
    host: '127.0.0.1',
    databaseUrl,
    trustProxy: opts.trustProxy ?? false,
    allowedOrigins: opts.allowedOrigins ?? base.allowedOrigins,
    webDist: opts.webDist ?? base.webDist,
    security: { ...defaultSecurityConfig, ...opts.security },
    rateLimits: { ...defaultRateLimitPolicies, ...opts.rateLimits },
    wsLimits: { ...base.wsLimits, ...opts.wsLimits },
    http: { ...base.http, ...opts.http },
    incidents: { ...base.incidents, ...opts.incidents },
    detection: {
      enabled: opts.detection?.enabled ?? base.detection.enabled,
      rules: Object.fromEntries(Object.entries(base.detection.rules).map(([name, rule]) => [name, { ...rule, ...opts.detection?.rules?.[name as keyof typeof base.detection.rules] }])) as ServerConfig['detection']['rules'],
    },
    redisUrl: opts.redisUrl,
  };
  const clock = new TestClock();
  const app = await createApp({
    config,
    jwtSecret: opts.jwtSecret ?? randomBytes(32),
    logger,
    clock,
    inMemoryDatabase: !databaseUrl,
    ...(opts.limitFactor ? { limitFactor: opts.limitFactor } : {}),
    ...(opts.recordSecurityActions ? { recordSecurityActions: opts.recordSecurityActions } : {}),
  });
  const port = await app.listen();
  const close = async () => {
    await app.close();
    await fresh?.drop();
    if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    trpcUrl: `http://127.0.0.1:${port}/trpc`,
    wsUrl: `ws://127.0.0.1:${port}/trpc`,
    clock,
    logs,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Postgres for tests that need several processes on one database: TEST_DATABASE_URL, or the local
 * server every developer machine and CI has. Such tests run in the embedded-database pass too.
 */
export const MULTI_PROCESS_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function createFreshDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  return createScratchDatabase(adminUrl, 'tv_test');
}

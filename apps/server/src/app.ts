import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { getWSConnectionHandler } from '@trpc/server/adapters/ws';
import { Redis } from 'ioredis';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  appRouter,
  createDenialAuditor,
  createLastUsedTracker,
  createRateLimiter,
  createAuditRecorder,
  createAuditWriter,
  createAuditSealer,
  createBotRunner,
  createHousekeeping,
  type Housekeeping,
  createMarketProducer,
  createMarketTape,
  createOrderMatcher,
  createTradingEventFeed,
  createSecurityResponse,
  createDetector,
  incidentResponseParts,
  blockResponseParts,
  createIpGate,
  type IpGate,
  clientIp,
  lockdownResponseParts,
  recordingSecurityResponse,
  type SecurityActionRecorder,
  raiseSecurityAlert,
  createSecurityWebhookWorker,
  createPaperBroker,
  tapeMarketData,
  type OrderMatcher,
  loadEncryptionKeyring,
  importLegacyAuditRows,
  loadAuditKeyring,
  sealLegacyChains,
  startAuditCheckpoints,
  signingKeyOf,
  CHECKPOINT_FILE,
  type CheckpointWriter,
  publishCommittedAudit,
  startAuditRetention,
  liveSessionIds,
  findLiveSessionCached,
  verifyApiKey,
  createContextFactory,
  createPasswordHasher,
  createTokenService,
  systemClock,
  type ApiDeps,
  type BotRunner,
  type Detector,
  type MarketProducer,
  type AuditRecorder,
  type Clock,
  type RetentionJob,
} from '@tapevision/api';
import {
  checkReadiness,
  createRequestScope,
  migrationsFolder,
  openDatabase,
  runInRequestScope,
  type DatabaseHandle,
} from '@tapevision/db';
import type { ServerConfig } from './config.ts';
import { createStaticHandler } from './static-files.ts';
import { createSocketRegistry } from './socket-registry.ts';
import { createWsGuard } from './ws-guard.ts';
import { precomputedHeaders } from './security-headers.ts';
import { batchWrites } from './ws-write-batching.ts';
import { wsEncoder } from './ws-encoder.ts';
import { createQueryFastPath } from './trpc-query-fast-path.ts';
import { webSocketOriginAllowed } from './ws-origin.ts';
import { createMemoryConnectionCounter, createRedisConnectionCounter } from './connection-counter.ts';
import { answerClientError, capConnectionsPerIp, readBoundedBody, refuseTrpcRequest, serverOptions } from './http-limits.ts';

export interface AppOptions {
  config: ServerConfig;
  jwtSecret: Uint8Array;
  logger: Logger;
  clock?: Clock;
  /** Tests: run PGlite in memory instead of under DATA_DIR. */
  inMemoryDatabase?: boolean;
  /**
   * Benchmarks only: wraps the audit recorder, so the audited procedures can be measured against
   * themselves with the audit log switched off, in the same process. Nothing reads it from the
   * environment.
   */
  wrapAuditRecorder?: (recorder: AuditRecorder) => AuditRecorder;
  /**
   * Single GET queries skip tRPC's fetch adaptation (trpc-query-fast-path.ts); on by default. Tests
   * turn it off to compare the two answers call for call.
   */
  queryFastPath?: boolean;
  /** Scales rate limits per client IP (0.5 halves them); the suspicious-IP hook. */
  limitFactor?: (ip: string | null) => number | Promise<number>;
  /** Tests: sees every action asked of deps.securityResponse (and may answer it); see recordingSecurityResponse. */
  recordSecurityActions?: SecurityActionRecorder;
}

export interface App {
  server: http.Server;
  /** Closes sockets whose session lapsed or whose API key no longer covers them (runs every 30 s on its own). */
  sweepSockets(): Promise<void>;
  deps: ApiDeps;
  database: DatabaseHandle;
  /** The audit retention job (hourly when AUDIT_RETENTION_DAYS > 0); `runNow()` runs it at once. */
  retention: RetentionJob;
  /** Signed checkpoints of the chains' heads (every AUDIT_CHECKPOINT_MINUTES and at close); `writeNow()` writes one at once. */
  checkpoints: CheckpointWriter;
  /** Produces the tape while this process holds the leader lock; `leading` says whether it does. */
  marketProducer: MarketProducer;
  /** Fills resting limit orders while this process holds its lock. */
  orderMatcher: OrderMatcher;
  /** Runs the running bots while this process holds their lock (with PGlite, always). */
  botRunner: BotRunner;
  /** Intrusion detection's worker; `flush()` counts everything pushed so far. */
  detector: Detector;
  /** Purges ended sessions and spent throttle rows while this process holds its lock; `runNow()` at once. */
  housekeeping: Housekeeping;
  /** This process's in-memory copy of the active IP blocks and suspicious flags. */
  ipGate: IpGate;
  /** Starts listening; resolves with the bound port (config.port 0 picks a free one). */
  listen(): Promise<number>;
  /** Graceful stop: no new connections, in-flight calls finish, sockets told to reconnect, database closed. */
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 10_000;
const expectedMigrations = (
  JSON.parse(readFileSync(path.join(migrationsFolder, 'meta/_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;

export async function createApp(opts: AppOptions): Promise<App> {
  const { config, logger } = opts;
  // Before the database is touched: a misconfigured key stops the start, not a half-started server.
  const keyring = loadEncryptionKeyring(
    { ENCRYPTION_KEY: config.encryption.key, ENCRYPTION_KEY_FILE: config.encryption.keyFile },
    { production: config.production, dataDir: config.dataDir, logger },
  );
  const auditKeys = loadAuditKeyring(config.audit, { production: config.production, dataDir: config.dataDir, logger });
  const auditIntegrity = { keys: auditKeys, checkpointFiles: [path.join(config.dataDir, CHECKPOINT_FILE)] };
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.databaseUrl || opts.inMemoryDatabase ? undefined : path.join(config.dataDir, 'pglite'),
    timeouts: config.databaseTimeouts,
    onBreakerChange: (state, err) => {
      if (state === 'open') logger.error({ err }, 'database unreachable: calls that need it answer 503 until it is back');
      else logger.info('database reachable again');
    },
  });
  const redis = config.redisUrl ? connectRedis(config.redisUrl, logger) : null;
  const clock = opts.clock ?? systemClock;
  // Seal the keyless rows first: the import below writes keyed ones, which mark the cut-over done.
  await sealLegacyChains(database.db, auditKeys);
  await importLegacyAuditRows(database.db, auditKeys);
  // Built before the audit writer, whose committed rows it counts; it reads deps when it works.
  const detector = createDetector(() => deps, { ...config.detection, logger, clock });
  const onCommitted = (rows: Parameters<typeof publishCommittedAudit>[1]) => {
    publishCommittedAudit(database.bus, rows, logger);
    // This process's rows only (never the bus): each row is counted once across processes.
    detector.auditCommitted(rows);
  };
  const writer = createAuditWriter({
    db: database.db,
    logger,
    key: signingKeyOf(auditKeys),
    spoolDir: path.join(config.dataDir, 'audit-spool'),
    batchSize: config.audit.batchSize,
    flushIntervalMs: config.audit.flushIntervalMs,
    maxQueue: config.audit.maxQueue,
    onCommitted,
  });
  const recorder = createAuditRecorder(
    writer,
    // Rows of state changes, written in their transactions; it also seals what a killed process left.
    createAuditSealer({
      db: database.db,
      logger,
      key: signingKeyOf(auditKeys),
      onCommitted,
    }),
    clock,
  );
  recorder.committed();
  const checkpoints = startAuditCheckpoints({
    db: database.db,
    keys: auditKeys,
    file: auditIntegrity.checkpointFiles[0]!,
    logger,
    clock,
    writer: writer.chainId,
    intervalMs: config.audit.checkpointMinutes * 60_000,
  });
  const audit = opts.wrapAuditRecorder?.(recorder) ?? recorder;
  const apiKeyUsage = createLastUsedTracker({ db: database.db, logger });
  const market = createMarketTape({ bus: database.bus, capacity: config.market.bufferSize });
  await market.start();
  const tradingEvents = createTradingEventFeed({ deps: { db: database.db, bus: database.bus, logger }, pollMs: 5_000 });
  await tradingEvents.start();
  // Blocks and suspicious flags, in memory: the only detection work on the request path.
  const ipGate = createIpGate({ db: database.db, bus: database.bus, clock, logger });
  await ipGate.start();
  const deps: ApiDeps = {
    db: database.db,
    bus: database.bus,
    clock,
    config: config.security,
    tokens: createTokenService({
      secret: opts.jwtSecret,
      issuer: config.security.issuer,
      audience: config.security.audience,
      accessTokenTtlSeconds: config.security.accessTokenTtlSeconds,
    }),
    passwords: await createPasswordHasher({ concurrency: config.security.passwordHashConcurrency }),
    audit,
    logger,
    rateLimits: {
      limiter: createRateLimiter({ redis }),
      policies: config.rateLimits,
      denials: createDenialAuditor(audit, undefined, (policy, caller, origin) => detector.rateLimited(caller, origin, policy)),
      limitFactor: opts.limitFactor ?? ((ip) => ipGate.limitFactor(ip)),
    },
    apiKeyUsage,
    market,
    keyring,
    auditIntegrity,
    tradingEvents,
    broker: createPaperBroker({ market: tapeMarketData(market), slippageTicks: config.market.slippageTicks, clock }),
    // Each feature gives its actions here once deps exist (they need the database and the bus).
    detection: detector,
    securityResponse: createSecurityResponse(logger, {
      // Incidents: opens or joins one per detection, responds by severity; ends an account's sessions.
      ...incidentResponseParts(() => deps, config.incidents),
      // The blocklist: blocks an address (never an allowlisted one), flags one as suspicious.
      ...blockResponseParts(() => deps),
      // Lockdown: the system engages it (engaged_by null) when INCIDENT_AUTO_LOCKDOWN=1 and a CRITICAL fires.
      ...lockdownResponseParts(() => deps),
      raiseAlert: async (input) => void (await raiseSecurityAlert({ db: database.db, bus: database.bus, clock }, input)),
    }),
  };
  if (opts.recordSecurityActions) deps.securityResponse = recordingSecurityResponse(deps.securityResponse, opts.recordSecurityActions);
  detector.start();

  const retention = startAuditRetention({ db: database.db, auditIntegrity, audit, clock, logger, retentionDays: config.audit.retentionDays });

  const sockets = createSocketRegistry({
    bus: deps.bus,
    logger,
    closeDelayMs: config.security.wsRevokeCloseDelayMs,
    now: () => clock.now(),
    liveSessions: (ids) => liveSessionIds(deps, ids),
    sessionExpiresAt: async (id) => (await findLiveSessionCached(deps, id))?.session.absoluteExpiresAt ?? null,
    checkKey: (raw) => verifyApiKey(deps, raw),
  });
  await sockets.start();
  const marketProducer = createMarketProducer({
    database,
    deps,
    tape: market,
    seed: config.market.seed,
    printsPerSecond: config.market.printsPerSecond,
    retryMs: config.market.leaderRetryMs,
  });
  await marketProducer.start();
  const orderMatcher = createOrderMatcher({ database, deps, tape: market, retryMs: config.market.leaderRetryMs });
  await orderMatcher.start();
  const botRunner = createBotRunner({ database, deps, retryMs: config.market.leaderRetryMs });
  await botRunner.start();
  const housekeeping = createHousekeeping({ database, db: database.db, bus: database.bus, clock, logger, security: config.security, config: config.housekeeping });
  await housekeeping.start();
  const securityWebhook = createSecurityWebhookWorker({ database, clock, logger, config: config.securityWebhook });
  await securityWebhook.start();
  const wsGuard = createWsGuard({
    limits: config.wsLimits,
    logger,
    connections: redis ? createRedisConnectionCounter(redis, logger) : createMemoryConnectionCounter(),
    onViolation: (kind, principal) => logger.warn({ kind, principal }, 'WebSocket limit exceeded'),
  });
  const createContext = createContextFactory(deps, {
    trustProxy: config.trustProxy,
    onWebSocketAuthenticated: (socket, who) => {
      wsGuard.authenticated(socket, who.principalKey);
      sockets.register(socket, who);
    },
  });

  const onError = ({ error, path: procedure }: { error: { code: string; cause?: unknown; message: string }; path?: string | undefined }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') logger.error({ err: error.cause ?? error, procedure }, 'procedure failed');
  };

  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: config.maxBodyBytes,
    maxBatchSize: config.http.maxBatchSize,
    createContext: ({ req, res, info }) => createContext({ req, res, info }),
    onError,
  });
  const fastQuery =
    opts.queryFastPath === false
      ? () => false
      : createQueryFastPath({ router: appRouter, createContext: ({ req, res, info }) => createContext({ req, res, info }), onError });
  const serveStatic = createStaticHandler(config.webDist);
  const securityHeaders = precomputedHeaders(
    helmet({
      contentSecurityPolicy: {
        directives: { 'connect-src': ["'self'"], 'upgrade-insecure-requests': null },
      },
    }),
  );

  const server = http.createServer(serverOptions(config.http), (req, res) => {
    // A blocked address gets nothing but this; /healthz and /readyz stay open for load balancers.
    if (ipGate.blocking() && ipGate.isBlocked(clientIp(req, config.trustProxy))) {
      const pathname = pathnameOf(req.url);
      if (pathname !== '/healthz' && pathname !== '/readyz') return forbidden(res);
    }
    securityHeaders(req, res, () => {
      const pathname = pathnameOf(req.url);
      if (pathname === null) return json(res, 400, { status: 'bad request' });
      if (pathname === '/healthz') return json(res, 200, { status: 'ok' });
      if (pathname === '/readyz') {
        // The breaker already knows the database is away: no need to wait for a query to say so.
        const check = database.breakerState() === 'open' ? Promise.resolve(false) : checkReadiness(database.db, expectedMigrations, 1_000);
        void check.then((ready) =>
          json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', database: database.driver }),
        );
        return;
      }
      if (pathname.startsWith('/trpc/')) {
        // API answers carry tokens and private data: no browser or proxy cache may keep one. Set
        // here, before either handler, so the fast path and tRPC's handler answer alike.
        res.setHeader('cache-control', 'no-store');
        if (refuseTrpcRequest(req, res, pathname, config.http)) return;
        // A client that hangs up before its answer has given up on the call: what it would
        // still send to the database is refused, and its open transactions do not commit.
        const scope = createRequestScope();
        res.once('close', () => {
          if (!res.writableFinished) scope.abandon();
        });
        if (runInRequestScope(scope, () => fastQuery(req, res, pathname))) return;
        if (req.method !== 'POST') return runInRequestScope(scope, () => trpcHandler(req, res));
        return readBoundedBody(req, res, config.maxBodyBytes, (body) => {
          // tRPC's httpLink sends a mutation called without input (auth.refresh() from the browser)
          // as a POST with no body, which its JSON handler cannot parse: read no body as `{}`.
          const bodiless = body === '' && req.headers['content-type']?.startsWith('application/json');
          (req as { body?: unknown }).body = bodiless ? '{}' : body;
          // The body's end event runs outside the scope entered above: enter it again.
          runInRequestScope(scope, () => trpcHandler(req, res));
        });
      }
      serveStatic(req, res, pathname);
    });
  });

  server.on('clientError', answerClientError);
  capConnectionsPerIp(server, config.http.maxConnectionsPerIp);

  const allowedOrigins = new Set(config.allowedOrigins);
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxWsMessageBytes });
  const onWsConnection = getWSConnectionHandler({
    wss,
    router: appRouter,
    createContext: ({ req, res, info }) => createContext({ req, res, info }),
    onError,
    keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
    experimental_encoder: wsEncoder,
  });
  // Each socket's client address, so a block closes the sockets already open from it.
  const socketIps = new WeakMap<WebSocket, string>();
  ipGate.onChange(() => {
    for (const client of wss.clients) {
      if (!ipGate.isBlocked(socketIps.get(client) ?? null)) continue;
      client.close(1008, 'ip blocked');
      // A client that never answers the close is cut off anyway.
      setTimeout(() => client.terminate(), 1_000).unref();
    }
  });
  wss.on('connection', (socket, req) => {
    socketIps.set(socket, clientIp(req, config.trustProxy));
    batchWrites(socket, req.socket);
    wsGuard.attach(socket);
    onWsConnection(socket, req);
  });
  server.on('upgrade', (req, socket, head) => {
    const pathname = pathnameOf(req.url);
    if (pathname !== '/trpc' && pathname !== '/trpc/') {
      socket.destroy();
      return;
    }
    if (ipGate.blocking() && ipGate.isBlocked(clientIp(req, config.trustProxy))) {
      // Before the 101, as for a foreign Origin: a blocked address never gets a socket.
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{"status":"forbidden"}', () => socket.destroy());
      return;
    }
    if (!webSocketOriginAllowed(req, allowedOrigins)) {
      // Refused before the 101, so a foreign page never gets a socket to send its cookie over.
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\norigin not allowed');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  let closing: Promise<void> | null = null;
  async function close(): Promise<void> {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // tRPC clients reconnect on this notice, to another instance behind the balancer.
      for (const client of wss.clients) client.send(JSON.stringify({ id: null, method: 'reconnect' }));
      sockets.stop();
      wsGuard.stop();
      ipGate.stop();
      await new Promise((r) => setTimeout(r, 100));
      for (const client of wss.clients) client.close(1012, 'server restarting');
      wss.close();
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await stopped;
      clearTimeout(force);
      // Gives up the leader lock (another process takes over) while the bus can still publish.
      await botRunner.stop();
      await housekeeping.stop();
      await securityWebhook.stop();
      await orderMatcher.stop();
      await tradingEvents.stop();
      await marketProducer.stop();
      market.stop();
      await deps.rateLimits.denials.flush();
      await apiKeyUsage.stop();
      await retention.stop();
      // Before the audit closes: a crossing still reported now writes its incident's audit rows.
      // Rows committed while the audit closes are not counted (a shutdown's last moment).
      await detector.stop();
      await audit.close(config.audit.shutdownFlushMs);
      // After the last rows are in: the final checkpoint covers them.
      await checkpoints.stop();
      redis?.disconnect();
      await database.close();
    })();
    return closing;
  }

  return {
    server,
    sweepSockets: sockets.sweep,
    deps,
    database,
    retention,
    checkpoints,
    marketProducer,
    orderMatcher,
    botRunner,
    detector,
    housekeeping,
    ipGate,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve((server.address() as AddressInfo).port));
      }),
    close,
  };
}

const PLAIN_PATH = /^\/[\w\-.,~/]*$/;

// Node's parser lets through request targets that WHATWG URL rejects ("http://["): a throw here
// would escape the listener and end the process, so a bad target is just a 400.
function pathnameOf(url: string | undefined): string | null {
  // The common target (letters, digits, "/", "-", "_", ".", ",", "~", no dot segment) is its own
  // pathname; parsing every request with URL cost more than a cached token check.
  const path = url?.split('?', 1)[0];
  if (path !== undefined && PLAIN_PATH.test(path) && !path.includes('/.')) return path;
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    return null;
  }
}

const FORBIDDEN_BODY = JSON.stringify({ status: 'forbidden' });

// The whole answer to a blocked address: no body is read, the connection is not kept.
function forbidden(res: http.ServerResponse) {
  res.writeHead(403, { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' }).end(FORBIDDEN_BODY);
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

// Commands fail fast while Redis is away (no offline queue), so the limiter falls back to its
// in-memory insurance at once instead of waiting; errors are logged, not thrown.
function connectRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  let lastLog = 0;
  redis.on('error', (err) => {
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      logger.warn({ err }, 'Redis unavailable: rate limits fall back to in-memory insurance');
    }
  });
  return redis;
}

import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { applyWSSHandler } from '@trpc/server/adapters/ws';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import {
  appRouter,
  createAuditRecorder,
  createContextFactory,
  createPasswordHasher,
  createTokenService,
  systemClock,
  type ApiDeps,
  type Clock,
} from '@tapevision/api';
import { checkReadiness, migrationsFolder, openDatabase, type DatabaseHandle } from '@tapevision/db';
import type { ServerConfig } from './config.ts';
import { createStaticHandler } from './static-files.ts';
import { createSocketRegistry } from './socket-registry.ts';

export interface AppOptions {
  config: ServerConfig;
  jwtSecret: Uint8Array;
  logger: Logger;
  clock?: Clock;
  /** Tests: run PGlite in memory instead of under DATA_DIR. */
  inMemoryDatabase?: boolean;
}

export interface App {
  server: http.Server;
  deps: ApiDeps;
  database: DatabaseHandle;
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
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.databaseUrl || opts.inMemoryDatabase ? undefined : path.join(config.dataDir, 'pglite'),
  });
  const deps: ApiDeps = {
    db: database.db,
    bus: database.bus,
    clock: opts.clock ?? systemClock,
    config: config.security,
    tokens: createTokenService({
      secret: opts.jwtSecret,
      issuer: config.security.issuer,
      audience: config.security.audience,
      accessTokenTtlSeconds: config.security.accessTokenTtlSeconds,
    }),
    passwords: await createPasswordHasher(),
    audit: createAuditRecorder(database.db, logger),
    logger,
  };

  const sockets = createSocketRegistry({ bus: deps.bus, logger, closeDelayMs: config.security.wsRevokeCloseDelayMs });
  await sockets.start();
  const createContext = createContextFactory(deps, {
    trustProxy: config.trustProxy,
    onWebSocketAuthenticated: (socket, claims) => sockets.register(socket, claims),
  });

  const onError = ({ error, path: procedure }: { error: { code: string; cause?: unknown; message: string }; path?: string | undefined }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') logger.error({ err: error.cause ?? error, procedure }, 'procedure failed');
  };

  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    maxBodySize: config.maxBodyBytes,
    createContext: ({ req, res, info }) => createContext({ req, res, info }),
    onError,
  });
  const serveStatic = createStaticHandler(config.webDist);
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: { 'connect-src': ["'self'"], 'upgrade-insecure-requests': null },
    },
  });

  const server = http.createServer((req, res) => {
    securityHeaders(req, res, () => {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (pathname === '/healthz') return json(res, 200, { status: 'ok' });
      if (pathname === '/readyz') {
        void checkReadiness(database.db, expectedMigrations).then((ready) =>
          json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', database: database.driver }),
        );
        return;
      }
      if (pathname.startsWith('/trpc/')) return trpcHandler(req, res);
      serveStatic(req, res, pathname);
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxWsMessageBytes });
  const wsHandler = applyWSSHandler({
    wss,
    router: appRouter,
    createContext: ({ req, res, info }) => createContext({ req, res, info }),
    onError,
    keepAlive: { enabled: true, pingMs: 30_000, pongWaitMs: 5_000 },
  });
  server.on('upgrade', (req, socket, head) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== '/trpc' && pathname !== '/trpc/') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  let closing: Promise<void> | null = null;
  async function close(): Promise<void> {
    closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // tRPC clients reconnect on this notice, to another instance behind the balancer.
      wsHandler.broadcastReconnectNotification();
      sockets.stop();
      await new Promise((r) => setTimeout(r, 100));
      for (const client of wss.clients) client.close(1012, 'server restarting');
      wss.close();
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await stopped;
      clearTimeout(force);
      await database.close();
    })();
    return closing;
  }

  return {
    server,
    deps,
    database,
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve((server.address() as AddressInfo).port));
      }),
    close,
  };
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

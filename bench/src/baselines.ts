/**
 * The baselines, each in its own process on a free loopback port, started by the harness in the
 * same run as the real server so the ratios compare like with like:
 * - `raw`: node:http answering the same JSON as `market.lastPrices` (the limit);
 * - `trpc`: a bare tRPC server with that one query and no middleware (where a user would start);
 * - `trpc-jose`: the same query behind a `jose` HS256 JWT check, as tRPC's docs would have it;
 * - `broadcast`: a raw `ws` server sending the tape's messages to every client, for the fan-out;
 * - `sign-in`: node:http answering each sign-in after the product's argon2 verify and nothing else
 *   (no database, session or token): the most sign-ins this machine allows, next to the bound.
 * Prints one JSON line when ready.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { initTRPC, TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { SignJWT, jwtVerify } from 'jose';
import { WebSocketServer } from 'ws';
import { createPasswordHasher } from '@tapevision/api';
import { broadcastPrints, LAST_PRICES } from './fixtures.ts';

export type BaselineKind = 'raw' | 'trpc' | 'trpc-jose' | 'broadcast' | 'sign-in';

export interface BaselineOptions {
  kind: BaselineKind;
  /** broadcast: messages per second (sent in 10 ms ticks, as the product's simulator does). */
  printsPerSecond?: number;
}

export interface Baseline {
  url: string;
  /** trpc-jose: a valid bearer token. */
  token?: string;
  /** broadcast: POST here to start the tape, once every client is listening (as system.start does for the server). */
  startUrl?: string;
  /** sign-in: the body to POST (any path but /healthz); its password is the right one. */
  login?: { email: string; password: string };
}

const opts = JSON.parse(process.argv[2] ?? '{}') as BaselineOptions;
const secret = randomBytes(32);

function bareTrpc(withJwt: boolean): http.RequestListener {
  const t = initTRPC.context<{ authorization: string | undefined }>().create();
  const authed = t.procedure.use(async ({ ctx, next }) => {
    const token = /^Bearer (\S+)$/.exec(ctx.authorization ?? '')?.[1];
    if (!token) throw new TRPCError({ code: 'UNAUTHORIZED' });
    try {
      const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], issuer: 'bench', audience: 'bench' });
      return next({ ctx: { userId: payload.sub } });
    } catch {
      throw new TRPCError({ code: 'UNAUTHORIZED' });
    }
  });
  const procedure = withJwt ? authed : t.procedure;
  const appRouter = t.router({ market: t.router({ lastPrices: procedure.query(() => LAST_PRICES) }) });
  return createHTTPHandler({ router: appRouter, basePath: '/trpc/', createContext: ({ req }) => ({ authorization: req.headers.authorization }) });
}

const ready: Baseline = { url: '' };
let server: http.Server;
if (opts.kind === 'raw') {
  const body = JSON.stringify({ result: { data: LAST_PRICES } });
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
} else if (opts.kind === 'sign-in') {
  // The product's hasher, so the same argon2 options and the same cap on hashes at once.
  const hasher = await createPasswordHasher();
  const password = `bench-${randomBytes(12).toString('base64url')}-lantern`;
  const hash = await hasher.hash(password);
  ready.login = { email: 'bench-sign-in@bench.local', password };
  server = http.createServer((req, res) => {
    if (req.url === '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { password: string };
      void hasher.verify(hash, body.password).then((ok) => {
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify({ ok }));
      });
    });
  });
} else if (opts.kind === 'broadcast') {
  let started = false;
  server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/start') return void res.writeHead(404).end();
    // The same frames a tRPC subscription sends (one envelope per print), each serialised once and
    // written to every client: what any fan-out costs at least.
    if (!started) {
      started = true;
      broadcastPrints(opts.printsPerSecond ?? 200, (message) => {
        for (const client of wss.clients) client.send(message);
      });
    }
    res.writeHead(204).end();
  });
  const wss = new WebSocketServer({ server, path: '/trpc' });
} else {
  server = http.createServer(bareTrpc(opts.kind === 'trpc-jose'));
  if (opts.kind === 'trpc-jose') {
    ready.token = await new SignJWT({ role: 'viewer' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('bench-user')
      .setIssuer('bench')
      .setAudience('bench')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(secret);
  }
}

await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
ready.url = opts.kind === 'broadcast' ? `ws://127.0.0.1:${port}/trpc` : `http://127.0.0.1:${port}`;
if (opts.kind === 'broadcast') ready.startUrl = `http://127.0.0.1:${port}/start`;
process.stdout.write(`${JSON.stringify(ready)}\n`);
process.on('SIGTERM', () => process.exit(0));

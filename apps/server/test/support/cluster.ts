/**
 * Several real server PROCESSES (`node --import tsx src/main.ts`) on one Postgres database and one
 * Redis, as a load balancer would have them; and a private, killable redis-server for the
 * failure tests (the shared Redis on 6379 is never touched).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startServerProcess, type ServerProcess } from './process.ts';
import { createFreshDatabase, MULTI_PROCESS_POSTGRES_URL } from './server.ts';
import { strongPassword } from './users.ts';

/** The Redis every developer machine and CI has; TEST_REDIS_URL overrides it. */
export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface ClusterNode {
  proc: ServerProcess;
  port: number;
  url: string;
  trpcUrl: string;
  wsUrl: string;
}

export interface Cluster {
  nodes: ClusterNode[];
  admin: { email: string; password: string };
  databaseUrl: string;
  /** Stops every process (SIGTERM, then SIGKILL), drops the database, removes the data dirs. */
  stop(): Promise<void>;
}

/**
 * Starts `count` processes one after the other (so migrations and the first-admin bootstrap do
 * not race) on a fresh Postgres database, all with the same JWT secret: a token issued by one is
 * accepted by the others. `env` adds settings (REDIS_URL, RATE_LIMIT_API, ...).
 */
export async function startCluster(count: number, env: Record<string, string>): Promise<Cluster> {
  const db = await createFreshDatabase(MULTI_PROCESS_POSTGRES_URL);
  const jwtSecret = randomBytes(36).toString('base64url'); // 48 characters
  const auditKey = randomBytes(32).toString('base64url');
  const admin = { email: `admin-${randomBytes(4).toString('hex')}@desk.example`, password: strongPassword() };
  const dirs: string[] = [];
  const nodes: ClusterNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.proc.stop(10_000)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await db.drop();
  };
  try {
    for (let i = 0; i < count; i += 1) {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tv-cluster-'));
      dirs.push(dataDir);
      const proc = startServerProcess({
        DATA_DIR: dataDir,
        DATABASE_URL: db.url,
        JWT_SECRET: jwtSecret,
        // One audit key for all, as for JWT_SECRET: each verifies the others' chains.
        AUDIT_KEY: auditKey,
        ADMIN_EMAIL: admin.email,
        ADMIN_PASSWORD: admin.password,
        ...env,
      });
      // Pushed before waiting, so a process that fails to listen is still stopped.
      const node = { proc, port: 0, url: '', trpcUrl: '', wsUrl: '' };
      nodes.push(node);
      Object.assign(node, await proc.listening(90_000));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, admin, databaseUrl: db.url, stop };
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  url: string;
  port: number;
  child: ChildProcess;
  readonly running: boolean;
  /** SIGKILL, and wait for the process to be gone. */
  kill(): Promise<void>;
}

/** A redis-server of our own on a free port, with nothing persisted, to be killed by the test. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running = false;
      resolve();
    });
  });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (!running) throw new Error(`redis-server exited at start:\n${output}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on ${port}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    child,
    get running() {
      return running;
    },
    async kill() {
      if (running) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A short-lived client to read what the limiter stored. */
export async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** The limiter's key for a policy and a principal (createRateLimiter's 'tv:rl' prefix). */
export function limiterKey(policy: string, points: number, durationSeconds: number, key: string): string {
  return `tv:rl:${policy}:${points}:${durationSeconds}:${key}`;
}

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import argon2 from 'argon2';

// OWASP's argon2id baseline: 19 MiB of memory, 2 passes, 1 lane.
const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Burns one verification's worth of time, so an unknown email answers as slowly as a known one. */
  verifyDummy(password: string): Promise<void>;
  /** Hashes running and waiting now, the most that ever ran at once, and the cap. */
  stats(): { running: number; waiting: number; peak: number; limit: number };
}

/**
 * argon2 runs on libuv's thread pool (UV_THREADPOOL_SIZE, 4 by default) and keeps a core busy for
 * each hash. More at once than there are cores only makes every one slower and takes the CPU the
 * event loop needs (a sign-in flood held /healthz for 100-360 ms); more than the pool would also
 * hold up file and DNS work queued behind them. So: one per core, at most the pool's size.
 */
export function defaultPasswordHashConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(os.availableParallelism(), pool));
}

export async function createPasswordHasher(opts: { concurrency?: number } = {}): Promise<PasswordHasher> {
  const limit = Math.max(1, opts.concurrency ?? defaultPasswordHashConcurrency());
  let running = 0;
  let peak = 0;
  // First come, first served: a sign-in waits its turn rather than slowing every other one down.
  const waiting: (() => void)[] = [];

  async function limited<T>(work: () => Promise<T>): Promise<T> {
    if (running < limit) running += 1;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    peak = Math.max(peak, running);
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line, or is given back.
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  }

  const dummyHash = await argon2.hash(randomBytes(32).toString('hex'), ARGON2_OPTIONS);
  return {
    hash: (password) => limited(() => argon2.hash(password, ARGON2_OPTIONS)),
    verify: (hash, password) => limited(() => argon2.verify(hash, password).catch(() => false)),
    async verifyDummy(password) {
      await limited(() => argon2.verify(dummyHash, password).catch(() => false));
    },
    stats: () => ({ running, waiting: waiting.length, peak, limit }),
  };
}

/** A one-time password: 120 random bits, readable, and comfortably past the strength policy. */
export function generateOneTimePassword(): string {
  return randomBytes(15).toString('base64url').replace(/[-_]/g, 'x') + '-Tv';
}

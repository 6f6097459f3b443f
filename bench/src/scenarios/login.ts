import http from 'node:http';
import os from 'node:os';
import { createPasswordHasher } from '@tapevision/api';
import { runLoad } from '../processes.ts';
import type { BenchServer } from '../server.ts';
import type { BenchSettings } from '../settings.ts';
import { median, startBaseline } from './queries.ts';

/**
 * The bound on sign-ins: each costs one argon2id verification (OWASP's 19 MiB, t=2), which
 * takes a whole core for its duration, so no server does more than cores / verify-time a second.
 * Measured here with the product's own hasher, one verification at a time, before the flood.
 */
export async function argon2Bound(settings: BenchSettings) {
  const hasher = await createPasswordHasher();
  const hash = await hasher.hash('bench-correct-horse-battery');
  await hasher.verify(hash, 'bench-correct-horse-battery');
  const times: number[] = [];
  for (let i = 0; i < (settings.quick ? 5 : 20); i++) {
    const started = performance.now();
    await hasher.verify(hash, 'bench-correct-horse-battery');
    times.push(performance.now() - started);
  }
  const verifyMs = median(times);
  const cores = os.availableParallelism();
  // Not the bound, only reported beside it: verifications per second with every core hashing at
  // once. Below the bound when parallel hashes slow each other (shared cache, memory bandwidth).
  const rounds = settings.quick ? 3 : 10;
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    await Promise.all(Array.from({ length: cores }, () => hasher.verify(hash, 'bench-correct-horse-battery')));
  }
  const allCoresPerSecond = (rounds * cores * 1_000) / (performance.now() - started);
  return { verifyMs, cores, perSecond: (cores * 1_000) / verifyMs, allCoresPerSecond };
}

/**
 * Latency of /healthz, asked every 10 ms from this process while something else loads the
 * server: how responsive its event loop stays.
 */
function healthProbe(url: string) {
  return latencyProbe(`${url}/healthz`);
}

/** Latency of one GET (a 200 counts, anything else is an error), asked every 10 ms until stopped. */
export function latencyProbe(url: string, headers: Record<string, string> = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await new Promise<void>((resolve) => {
        http
          .get(url, { agent, headers }, (res) => {
            res.resume();
            res.once('end', () => {
              if (res.statusCode === 200) latencies.push(performance.now() - started);
              else errors += 1;
              resolve();
            });
          })
          .once('error', () => {
            errors += 1;
            resolve();
          });
      });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      agent.destroy();
      const sorted = latencies.sort((a, b) => a - b);
      return { samples: sorted.length, errors, p50: sorted[Math.floor(sorted.length * 0.5)] ?? 0, p99: sorted[Math.ceil(sorted.length * 0.99) - 1] ?? 0 };
    },
  };
}

/** Sign-ins to `target` (one account, the right password) flooded, with the health probe running. */
async function signInFlood(
  settings: BenchSettings,
  target: { url: string; signInUrl: string; login: { email: string; password: string } },
  bound: { perSecond: number },
) {
  const load = {
    url: target.signInUrl,
    method: 'POST',
    // Enough to keep every core hashing while answers are written; more only queue.
    connections: Math.max(4, os.availableParallelism() * 4),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(target.login),
  };
  if (settings.warmupSeconds > 0) await runLoad({ ...load, duration: settings.warmupSeconds });
  const probe = healthProbe(target.url);
  const flood = await runLoad({ ...load, duration: settings.seconds });
  const health = await probe.stop();
  return { flood, health, ratio: flood.rps / bound.perSecond };
}

/** auth.login flooded (the right password, one user) against its argon2 bound, with the health probe running. */
export function loginFlood(settings: BenchSettings, server: BenchServer, bound: { perSecond: number }) {
  return signInFlood(settings, { url: server.url, signInUrl: `${server.url}/trpc/auth.login`, login: server.login }, bound);
}

/**
 * The same flood against the `sign-in` baseline: node:http, the product's hasher, nothing else.
 * What is left between it and the bound is the machine's (the HTTP exchange, the load generator
 * and the probe on the same cores, hashes slowing each other); between it and auth.login, ours.
 */
export async function signInFloor(settings: BenchSettings, bound: { perSecond: number }) {
  const floor = await startBaseline('sign-in');
  try {
    return await signInFlood(settings, { url: floor.url, signInUrl: `${floor.url}/sign-in`, login: floor.login! }, bound);
  } finally {
    await floor.stop();
  }
}

import http from 'node:http';
import os from 'node:os';
import { createPasswordHasher } from '@tapevision/api';
import { runLoad } from '../processes.ts';
import type { BenchServer } from '../server.ts';
import type { BenchSettings } from '../settings.ts';
import { median } from './queries.ts';

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
  return { verifyMs, cores, perSecond: (cores * 1_000) / verifyMs };
}

/**
 * Latency of /healthz, asked every 10 ms from this process while something else loads the
 * server: how responsive its event loop stays.
 */
function healthProbe(url: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await new Promise<void>((resolve) => {
        http
          .get(`${url}/healthz`, { agent }, (res) => {
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

/** auth.login flooded (the right password, one user) against its argon2 bound, with the health probe running. */
export async function loginFlood(settings: BenchSettings, server: BenchServer, bound: { perSecond: number }) {
  const load = {
    url: `${server.url}/trpc/auth.login`,
    method: 'POST',
    // Enough to keep every core hashing while answers are written; more only queue.
    connections: Math.max(4, os.availableParallelism() * 4),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(server.login),
  };
  if (settings.warmupSeconds > 0) await runLoad({ ...load, duration: settings.warmupSeconds });
  const probe = healthProbe(server.url);
  const flood = await runLoad({ ...load, duration: settings.seconds });
  const health = await probe.stop();
  return { flood, health, ratio: flood.rps / bound.perSecond };
}

import os from 'node:os';
import { runLoad } from '../processes.ts';
import type { BenchServer } from '../server.ts';
import type { BenchSettings } from '../settings.ts';
import { latencyProbe } from './login.ts';
import { average, measure, median, queryUrl } from './queries.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * The authenticated query on a server with detection on and on one with it off (same database,
 * same load), in alternating rounds so drift falls on both sides; the ratio is the median.
 */
export async function detectionOverhead(settings: BenchSettings, on: BenchServer, off: BenchServer) {
  const rounds = settings.quick ? 1 : 3;
  const runs: { on: Awaited<ReturnType<typeof measure>>; off: Awaited<ReturnType<typeof measure>> }[] = [];
  for (let i = 0; i < rounds; i++) {
    const offLoad = await measure(settings, { url: queryUrl(off.url), headers: bearer(off.viewerToken) });
    const onLoad = await measure(settings, { url: queryUrl(on.url), headers: bearer(on.viewerToken) });
    runs.push({ on: onLoad, off: offLoad });
  }
  return {
    on: average(runs.map((r) => r.on)),
    off: average(runs.map((r) => r.off)),
    ratio: median(runs.map((r) => r.on.rps / r.off.rps)),
    runs,
  };
}

/**
 * Credential stuffing: auth.login flooded with wrong passwords (every one a full argon2 verify, a
 * failure audited and counted by detection), while a legitimate trader's authenticated query is
 * asked every 10 ms. The flood's answers are all 401 by design; only transport errors count.
 */
export async function stuffingFlood(settings: BenchSettings, server: BenchServer) {
  const load = {
    url: `${server.url}/trpc/auth.login`,
    method: 'POST',
    connections: Math.max(4, os.availableParallelism() * 4),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: server.login.email, password: 'not-the-password-at-all-42' }),
  };
  if (settings.warmupSeconds > 0) await runLoad({ ...load, duration: settings.warmupSeconds });
  const probe = latencyProbe(queryUrl(server.url), bearer(server.viewerToken));
  const flood = await runLoad({ ...load, duration: settings.seconds });
  const trader = await probe.stop();
  return { flood, trader };
}

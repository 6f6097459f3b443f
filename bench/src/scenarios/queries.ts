import type { Baseline, BaselineKind, BaselineOptions } from '../baselines.ts';
import { runLoad, spawnTs, stop, type LoadOptions, type LoadResult } from '../processes.ts';
import type { BenchServer } from '../server.ts';
import type { BenchSettings } from '../settings.ts';
import type { WsQueryOptions, WsQueryResult } from '../ws-load.ts';

/** The query every HTTP scenario asks for: in memory on every server, so what differs is the path to it. */
export const QUERY_PATH = 'market.lastPrices';
/** Calls per HTTP request in the batched run. */
export const BATCH_SIZE = 10;

/** A warm-up run (discarded), then the measured one; both from a separate process. */
export async function measure(settings: BenchSettings, load: Omit<LoadOptions, 'duration' | 'connections'> & { connections?: number }): Promise<LoadResult> {
  const opts = { connections: settings.connections, ...load };
  if (settings.warmupSeconds > 0) await runLoad({ ...opts, duration: settings.warmupSeconds });
  return runLoad({ ...opts, duration: settings.seconds });
}

export async function startBaseline(kind: BaselineKind, extra: Omit<BaselineOptions, 'kind'> = {}) {
  const { child, ready } = spawnTs<Baseline>('./baselines.ts', { kind, ...extra } satisfies BaselineOptions);
  try {
    return { ...(await ready), stop: () => stop(child) };
  } catch (err) {
    await stop(child);
    throw err;
  }
}

export const queryUrl = (base: string) => `${base}/trpc/${QUERY_PATH}`;
export const batchedUrl = (base: string) =>
  `${base}/trpc/${Array.from({ length: BATCH_SIZE }, () => QUERY_PATH).join(',')}?batch=1&input=${encodeURIComponent('{}')}`;

/** Counts calls, not requests: a batched request carries BATCH_SIZE of them. */
export const perCall = (load: LoadResult, calls: number): LoadResult => ({ ...load, rps: load.rps * calls });

/**
 * The limits the product is measured against, started by the harness: raw node:http, bare tRPC
 * (one request per call, and BATCH_SIZE calls per request), bare tRPC behind a jose JWT check.
 */
export async function baselineQueries(settings: BenchSettings) {
  const raw = await startBaseline('raw');
  const trpc = await startBaseline('trpc');
  const jose = await startBaseline('trpc-jose');
  try {
    const rawLoad = await measure(settings, { url: queryUrl(raw.url) });
    const bare = await measure(settings, { url: queryUrl(trpc.url) });
    const batched = perCall(await measure(settings, { url: batchedUrl(trpc.url) }), BATCH_SIZE);
    const withJwt = await measure(settings, { url: queryUrl(jose.url), headers: { authorization: `Bearer ${jose.token}` } });
    return { raw: rawLoad, bare, batched, withJwt };
  } finally {
    await Promise.all([raw.stop(), trpc.stop(), jose.stop()]);
  }
}

/**
 * The real server's query side by side with bare tRPC, in rounds (bare, session, API key) so
 * drift over the run falls on both sides of each ratio; the ratio is the median over the rounds.
 */
export async function securedQueries(settings: BenchSettings, server: BenchServer) {
  const trpc = await startBaseline('trpc');
  const rounds = settings.quick ? 1 : 3;
  const runs: { bare: LoadResult; session: LoadResult; apiKey: LoadResult }[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      runs.push({
        bare: await measure(settings, { url: queryUrl(trpc.url) }),
        session: await measure(settings, { url: queryUrl(server.url), headers: { authorization: `Bearer ${server.viewerToken}` } }),
        apiKey: await measure(settings, { url: queryUrl(server.url), headers: { 'x-api-key': server.apiKey } }),
      });
    }
  } finally {
    await trpc.stop();
  }
  return {
    bare: average(runs.map((r) => r.bare)),
    session: average(runs.map((r) => r.session)),
    apiKey: average(runs.map((r) => r.apiKey)),
    sessionRatio: median(runs.map((r) => r.session.rps / r.bare.rps)),
    apiKeyRatio: median(runs.map((r) => r.apiKey.rps / r.bare.rps)),
    runs,
  };
}

/** The same query over the WebSocket link (one connection per autocannon connection) and over HTTP. */
export async function websocketQuery(settings: BenchSettings, server: BenchServer) {
  const opts: WsQueryOptions = {
    mode: 'query',
    url: server.wsUrl,
    connectionParams: { accessToken: server.viewerToken },
    path: QUERY_PATH,
    connections: settings.connections,
    duration: settings.warmupSeconds,
  };
  const run = async (o: WsQueryOptions) => {
    const { child, ready } = spawnTs<WsQueryResult>('./ws-load.ts', o);
    try {
      return await ready;
    } finally {
      await stop(child);
    }
  };
  if (settings.warmupSeconds > 0) await run(opts);
  const ws = await run({ ...opts, duration: settings.seconds });
  const http = await measure(settings, { url: queryUrl(server.url), headers: { authorization: `Bearer ${server.viewerToken}` } });
  return { ws, http, ratio: ws.rps / http.rps };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function average(results: LoadResult[]): LoadResult {
  const mean = (pick: (r: LoadResult) => number) => results.reduce((sum, r) => sum + pick(r), 0) / results.length;
  const sum = (pick: (r: LoadResult) => number) => results.reduce((total, r) => total + pick(r), 0);
  return {
    rps: mean((r) => r.rps),
    p50: mean((r) => r.p50),
    p99: Math.max(...results.map((r) => r.p99)),
    errors: sum((r) => r.errors),
    non2xx: sum((r) => r.non2xx),
    total: sum((r) => r.total),
  };
}

import { spawnTs, stop } from '../processes.ts';
import type { BenchServer, BenchServerOptions } from '../server.ts';
import type { BenchSettings } from '../settings.ts';
import type { WsFanoutOptions, WsFanoutResult } from '../ws-load.ts';
import { startBaseline } from './queries.ts';

/** Issue #5: 200 prints/s to 500 subscribers. */
export const PRINTS_PER_SECOND = 200;

async function listen(opts: WsFanoutOptions): Promise<WsFanoutResult> {
  const { child, ready } = spawnTs<WsFanoutResult>('./ws-load.ts', opts);
  try {
    return await ready;
  } finally {
    await stop(child);
  }
}

/**
 * `market.onTape` to many WebSocket clients against a raw `ws` broadcast of the same frames at
 * the same rate to as many clients, one after the other in one run. The tape is the product's:
 * the leader process makes it once an admin calls system.start.
 */
export async function subscriptionFanout(settings: BenchSettings, databaseUrl: string | undefined) {
  const clients = settings.quick ? 50 : 500;
  // At least a second: the first prints wait for the engine's start to reach the leader.
  const timing = { clients, warmupSeconds: Math.max(1, settings.warmupSeconds), seconds: settings.seconds };

  const raw = await startBaseline('broadcast', { printsPerSecond: PRINTS_PER_SECOND });
  let broadcast: WsFanoutResult;
  try {
    broadcast = await listen({ mode: 'fanout', url: raw.url, start: { url: raw.startUrl!, token: '' }, ...timing });
  } finally {
    await raw.stop();
  }

  const server = spawnTs<BenchServer>('./server.ts', { databaseUrl, audit: 'on', printsPerSecond: PRINTS_PER_SECOND } satisfies BenchServerOptions);
  let trpc: WsFanoutResult;
  try {
    const { wsUrl, url, token, viewerToken } = await server.ready;
    trpc = await listen({
      mode: 'fanout',
      url: wsUrl,
      connectionParams: { accessToken: viewerToken },
      subscribe: { path: 'market.onTape', input: {} },
      start: { url: `${url}/trpc/system.start`, token },
      ...timing,
    });
  } finally {
    await stop(server.child);
  }
  return { clients, offeredPerSecond: PRINTS_PER_SECOND * clients, broadcast, trpc, ratio: trpc.messagesPerSecond / broadcast.messagesPerSecond };
}

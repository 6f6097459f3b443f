import type { DatabaseHandle } from '@tapevision/db';
import type { ApiDeps } from '../deps.ts';
import type { TapePrint } from '../schemas/market.ts';
import { DEFAULT_UNIVERSE, type Instrument } from '../trading/instruments.ts';
import type { Print } from '../trading/market-data.ts';
import { createSimulatedMarket, type SimulatedMarket } from '../trading/simulated-market.ts';
import { ENGINE_EVENTS_CHANNEL, getEngineStatus } from './engine.ts';
import { createLeaderLoop, type LeaderLoop } from './leader-loop.ts';
import { MARKET_PRINTS_CHANNEL, type MarketTape } from './market-tape.ts';

// Any 64-bit constant works, the same in every process and unlike the other lock keys (…114–116).
export const MARKET_LEADER_LOCK_KEY = 7_401_236_120;

// A NOTIFY payload must stay under 8,000 bytes; a print is about 110 bytes of JSON.
const PRINTS_PER_NOTICE = 40;

// Ids are `leaderStartMillis × 10⁶ + seq` (below 2⁶³ until the year 2262), and a new leader
// starts above the newest id it has seen, so ids keep growing across hand-overs even when the
// clocks of two hosts disagree. A leader would have to make a million prints per millisecond
// it has led to reach ids a later leader could start at.
const IDS_PER_MILLISECOND = 1_000_000n;

export interface MarketProducerOptions {
  database: Pick<DatabaseHandle, 'tryLock'>;
  deps: Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'logger'>;
  tape: MarketTape;
  seed: number;
  printsPerSecond: number;
  /** How often a follower tries for the lock, and the leader checks it still holds it. */
  retryMs: number;
  universe?: readonly Instrument[];
}

/** Stopping it stops printing, publishes what is queued and gives up the lock, so another process takes over. */
export type MarketProducer = LeaderLoop;

/**
 * Exactly one process makes the tape: whichever holds the advisory lock. It runs the simulator
 * while the engine is running and publishes each print on the bus; every process (this one
 * too) takes them from there into its MarketTape.
 */
export function createMarketProducer(opts: MarketProducerOptions): MarketProducer {
  const { deps, tape } = opts;
  const universe = opts.universe ?? DEFAULT_UNIVERSE;
  let market: SimulatedMarket | null = null;
  let base = 0n;
  let seq = 0n;
  const pending: TapePrint[] = [];
  let pumping: Promise<void> | null = null;

  function enqueue(print: Print) {
    seq += 1n;
    pending.push({ id: (base + seq).toString(), at: print.at, symbol: print.symbol, price: print.price, size: print.size, side: print.side });
    // Started a microtask later, so the prints of one wake-up share a notice.
    pumping ??= Promise.resolve().then(pump).finally(() => {
      pumping = null;
    });
  }

  // One notice at a time, so prints reach the bus (and every process) in id order.
  async function pump() {
    while (pending.length > 0) {
      const batch = pending.splice(0, PRINTS_PER_NOTICE);
      try {
        await deps.bus.publish(MARKET_PRINTS_CHANNEL, batch);
      } catch (err) {
        deps.logger.warn({ err, lost: batch.length }, 'market prints not published');
      }
    }
  }

  return createLeaderLoop({
    name: 'market feed',
    database: opts.database,
    lockKey: MARKET_LEADER_LOCK_KEY,
    bus: deps.bus,
    channels: [ENGINE_EVENTS_CHANNEL],
    retryMs: opts.retryMs,
    logger: deps.logger,
    role: {
      lead() {
        const now = BigInt(deps.clock.now().getTime()) * IDS_PER_MILLISECOND;
        const seen = tape.lastId();
        base = seen !== null && seen >= now ? seen + 1n : now;
        seq = 0n;
        // Carry on from the last prices seen, so a hand-over does not jump the market back to its start.
        const prices = new Map(tape.lastPrices().map((p) => [p.symbol, p.price]));
        market = createSimulatedMarket({
          seed: opts.seed,
          printsPerSecond: opts.printsPerSecond,
          universe: universe.map((i) => ({ ...i, startPrice: prices.get(i.symbol) ?? i.startPrice })),
          clock: deps.clock,
        });
        market.onPrint(enqueue);
      },
      // Reads the engine on every step, not only on notices, so a lost notice delays a start or stop by one retry at most.
      async tick() {
        const { state } = await getEngineStatus(deps);
        if (!market) return;
        if (state === 'running') market.start();
        else market.stop();
      },
      async stepDown() {
        market?.stop();
        market = null;
        await pumping;
      },
    },
  });
}

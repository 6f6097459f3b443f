import type { DatabaseHandle, HeldLock } from '@tapevision/db';
import type { ApiDeps } from '../deps.ts';
import type { TapePrint } from '../schemas/market.ts';
import { DEFAULT_UNIVERSE, type Instrument } from '../trading/instruments.ts';
import type { Print } from '../trading/market-data.ts';
import { createSimulatedMarket, type SimulatedMarket } from '../trading/simulated-market.ts';
import { ENGINE_EVENTS_CHANNEL, getEngineStatus } from './engine.ts';
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

export interface MarketProducer {
  start(): Promise<void>;
  /** Stops printing, publishes what is queued and gives up the lock, so another process takes over. */
  stop(): Promise<void>;
  readonly leading: boolean;
}

/**
 * Exactly one process makes the tape: whichever holds the advisory lock. It runs the simulator
 * while the engine is running and publishes each print on the bus; every process (this one
 * too) takes them from there into its MarketTape.
 */
export function createMarketProducer(opts: MarketProducerOptions): MarketProducer {
  const { deps, tape } = opts;
  const universe = opts.universe ?? DEFAULT_UNIVERSE;
  let lock: HeldLock | null = null;
  let market: SimulatedMarket | null = null;
  let base = 0n;
  let seq = 0n;
  let stopped = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  let unsubscribe: (() => void) | undefined;
  let chain: Promise<void> = Promise.resolve();
  const pending: TapePrint[] = [];
  let pumping: Promise<void> | null = null;

  function enqueue(print: Print) {
    seq += 1n;
    pending.push({ id: (base + seq).toString(), at: print.at, symbol: print.symbol, price: print.price, size: print.size, side: print.side });
    pumping ??= pump().finally(() => {
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

  function lead(held: HeldLock) {
    lock = held;
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
    deps.logger.info({ firstId: (base + 1n).toString() }, 'market feed: this process produces the tape');
  }

  async function stepDown(reason: string) {
    market?.stop();
    market = null;
    await pumping;
    await lock?.release();
    lock = null;
    deps.logger.warn({ reason }, 'market feed: no longer producing the tape');
  }

  async function step() {
    if (stopped) return;
    if (!lock) {
      const held = await opts.database.tryLock(MARKET_LEADER_LOCK_KEY);
      if (!held) return;
      if (stopped) return held.release();
      lead(held);
    } else if (!(await lock.check())) {
      return stepDown('lock connection lost');
    }
    // Read on every step, not only on notices, so a lost notice delays a start or stop by one retry at most.
    const { state } = await getEngineStatus(deps);
    if (stopped || !market) return;
    if (state === 'running') market.start();
    else market.stop();
  }

  function schedule() {
    chain = chain.then(step).catch((err: unknown) => deps.logger.warn({ err }, 'market feed step failed'));
    return chain;
  }

  return {
    async start() {
      unsubscribe = await deps.bus.subscribe(ENGINE_EVENTS_CHANNEL, () => void schedule());
      timer = setInterval(() => void schedule(), opts.retryMs);
      timer.unref();
      await schedule();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      unsubscribe?.();
      await chain;
      market?.stop();
      market = null;
      await pumping;
      await lock?.release();
      lock = null;
    },
    get leading() {
      return lock !== null;
    },
  };
}

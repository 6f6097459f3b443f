import { EventEmitter, on } from 'node:events';
import type { EventBus } from '@tapevision/db';
import type { LastPrice, TapePrint } from '../schemas/market.ts';
import { DEFAULT_UNIVERSE, isOnTick, type Instrument } from '../trading/instruments.ts';

/** Carries batches of prints, in id order, from the one producing process to every process. */
export const MARKET_PRINTS_CHANNEL = 'market_prints';

/** What every process knows of the tape: the last prints (a ring buffer) and the last price per symbol. */
export interface MarketTape {
  /** Subscribes to the bus; prints published before this are not seen. */
  start(): Promise<void>;
  stop(): void;
  /** Buffered prints with id above `afterId`, oldest first (all of them when null). */
  after(afterId: bigint | null): TapePrint[];
  /** Id of the newest print seen, or null before the first. */
  lastId(): bigint | null;
  lastPrices(): LastPrice[];
  /** Called for each print as it is appended to the buffer; returns the unsubscribe function. */
  onPrint(listener: (print: TapePrint) => void): () => void;
}

export interface MarketTapeOptions {
  bus: EventBus;
  /** Prints kept for resuming subscribers. */
  capacity: number;
  universe?: readonly Instrument[];
}

function isSide(v: unknown): boolean {
  return v === 'BUY' || v === 'SELL';
}

/** A bus payload is only trusted as far as its shape: the channel is open to anyone who can NOTIFY. */
function toPrint(v: unknown, universe: readonly Instrument[]): TapePrint | null {
  if (typeof v !== 'object' || v === null) return null;
  const p = v as Record<string, unknown>;
  const instrument = universe.find((i) => i.symbol === p.symbol);
  if (!instrument || typeof p.id !== 'string' || !/^\d{1,19}$/.test(p.id) || typeof p.at !== 'string') return null;
  if (typeof p.price !== 'number' || !(p.price > 0) || !isOnTick(p.price, instrument.tickSize)) return null;
  if (!Number.isInteger(p.size) || (p.size as number) < 1 || !isSide(p.side)) return null;
  return { id: p.id, at: p.at, symbol: instrument.symbol, price: p.price, size: p.size as number, side: p.side as TapePrint['side'] };
}

export function createMarketTape(opts: MarketTapeOptions): MarketTape {
  const universe = opts.universe ?? DEFAULT_UNIVERSE;
  const ring: (TapePrint | undefined)[] = new Array(opts.capacity);
  let head = 0; // where the next print goes
  let size = 0;
  let newest: bigint | null = null;
  const last = new Map<string, TapePrint>();
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let unsubscribe: (() => void) | undefined;

  function append(print: TapePrint) {
    const id = BigInt(print.id);
    // A repeat or a stale print (notices overtaking, a leader hand-over) would break the order.
    if (newest !== null && id <= newest) return;
    newest = id;
    ring[head] = print;
    head = (head + 1) % opts.capacity;
    size = Math.min(size + 1, opts.capacity);
    last.set(print.symbol, print);
    emitter.emit('print', print);
  }

  return {
    async start() {
      if (unsubscribe) return;
      unsubscribe = await opts.bus.subscribe(MARKET_PRINTS_CHANNEL, (payload) => {
        if (!Array.isArray(payload)) return;
        for (const raw of payload) {
          const print = toPrint(raw, universe);
          if (print) append(print);
        }
      });
    },
    stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      emitter.removeAllListeners();
    },
    after(afterId) {
      const out: TapePrint[] = [];
      for (let k = 0; k < size; k++) {
        const print = ring[(head - size + k + opts.capacity) % opts.capacity]!;
        if (afterId === null || BigInt(print.id) > afterId) out.push(print);
      }
      return out;
    },
    lastId: () => newest,
    lastPrices: () =>
      universe.map((i) => {
        const p = last.get(i.symbol);
        return { symbol: i.symbol, price: p?.price ?? null, at: p?.at ?? null, printId: p?.id ?? null };
      }),
    onPrint(listener) {
      emitter.on('print', listener);
      return () => emitter.off('print', listener);
    },
  };
}

/**
 * The tape for one subscriber. Listens before reading the buffer, so nothing falls between the
 * backfill and the live prints, and skips anything at or below the last id yielded.
 */
export async function* tapePrints(
  tape: Pick<MarketTape, 'after' | 'lastId' | 'onPrint'>,
  input: { symbols?: readonly string[] | undefined; lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
): AsyncGenerator<TapePrint> {
  const wanted = input.symbols ? new Set(input.symbols) : null;
  const local = new EventEmitter();
  const live = on(local, 'print', signal ? { signal } : {});
  const unsubscribe = tape.onPrint((print) => local.emit('print', print));
  try {
    let cursor = input.lastEventId ? BigInt(input.lastEventId) : tape.lastId();
    if (input.lastEventId) {
      for (const print of tape.after(cursor)) {
        cursor = BigInt(print.id);
        if (!wanted || wanted.has(print.symbol)) yield print;
      }
    }
    for await (const [print] of live) {
      const p = print as TapePrint;
      const id = BigInt(p.id);
      if (cursor !== null && id <= cursor) continue;
      cursor = id;
      if (!wanted || wanted.has(p.symbol)) yield p;
    }
  } catch (err) {
    if (!(err instanceof Error && err.name === 'AbortError')) throw err;
  } finally {
    unsubscribe();
    await live.return?.();
  }
}

import type { EventBus } from '@tapevision/db';
import { appError } from '../errors.ts';
import type { LastPrice, TapePrint } from '../schemas/market.ts';
import { DEFAULT_UNIVERSE, isOnTick, type Instrument } from '../trading/instruments.ts';
import { serialiseOnce } from './serialised-once.ts';

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
  /** Listeners registered now: one per live subscription of this process. */
  listenerCount(): number;
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
  // Every subscriber of this process is sent this same object: its JSON is made here, once.
  return serialiseOnce({ id: p.id, at: p.at, symbol: instrument.symbol, price: p.price, size: p.size as number, side: p.side as TapePrint['side'] });
}

export function createMarketTape(opts: MarketTapeOptions): MarketTape {
  const universe = opts.universe ?? DEFAULT_UNIVERSE;
  const ring: (TapePrint | undefined)[] = new Array(opts.capacity);
  let head = 0; // where the next print goes
  let size = 0;
  let newest: bigint | null = null;
  const last = new Map<string, TapePrint>();
  // One list for every subscriber of this process: a print is one call per listener, no emitter.
  let listeners: ((print: TapePrint) => void)[] = [];
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
    // The list is replaced, never mutated, so a listener removed during the loop is still called
    // this once and one added is not: the same as EventEmitter.
    const current = listeners;
    for (let k = 0; k < current.length; k++) current[k]!(print);
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
      listeners = [];
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
    listenerCount: () => listeners.length,
    onPrint(listener) {
      listeners = [...listeners, listener];
      let subscribed = true;
      return () => {
        if (!subscribed) return;
        subscribed = false;
        const k = listeners.indexOf(listener);
        if (k >= 0) listeners = [...listeners.slice(0, k), ...listeners.slice(k + 1)];
      };
    },
  };
}

/** Prints a subscriber may have waiting (about 10 s of a 200/s tape); more end its subscription. */
export const DEFAULT_SUBSCRIBER_QUEUE = 2_000;
/** Bytes its transport may hold unsent before a subscriber stops taking prints off its queue. */
export const DEFAULT_SUBSCRIBER_HIGH_WATER_BYTES = 1 << 20;
/** How often a subscriber held back by its transport looks again. */
const BACKLOG_POLL_MS = 20;

export interface TapeStreamOptions<T> {
  /** What each print becomes on the way out (the router wraps it in tracked()). */
  map: (print: TapePrint) => T;
  /** Bytes the subscriber's transport holds unsent (WebSocket bufferedAmount); 0 when unknown. */
  backlog?: () => number;
  /** Prints waiting for this subscriber beyond which it is ended with SLOW_SUBSCRIBER. */
  maxQueued?: number;
  highWaterBytes?: number;
  /** Called once when the subscriber is ended for falling behind. */
  onOverflow?: (info: { queued: number; lastEventId: string | null }) => void;
}

/**
 * The tape for one subscriber, as an async iterator cheap enough to run once per socket: each
 * print costs one call from the tape's listener list, a Set lookup for the symbol filter and a
 * push onto this subscriber's queue. The listener is registered and the backfill read in one
 * synchronous step, and the tape only hands out ids above every id it holds, so the live prints
 * follow the backfill without a gap or a repeat and no id is compared per print.
 *
 * A subscriber whose transport falls behind (more than highWaterBytes unsent) stops taking
 * prints; they wait on its queue, and when maxQueued are waiting the subscription ends with
 * TOO_MANY_REQUESTS / SLOW_SUBSCRIBER and the last id it was given, from which it can resume.
 */
export function tapePrints<T>(
  tape: Pick<MarketTape, 'after' | 'lastId' | 'onPrint'>,
  input: { symbols?: readonly string[] | undefined; lastEventId?: string | null | undefined },
  signal: AbortSignal | undefined,
  opts: TapeStreamOptions<T>,
): AsyncIterableIterator<T> {
  const wanted = input.symbols ? new Set(input.symbols) : null;
  const maxQueued = opts.maxQueued ?? DEFAULT_SUBSCRIBER_QUEUE;
  const highWater = opts.highWaterBytes ?? DEFAULT_SUBSCRIBER_HIGH_WATER_BYTES;
  const backlog = opts.backlog;
  // A queue with a moving head: reset when emptied, so it never shifts.
  let queue: TapePrint[] = [];
  let head = 0;
  // The backfill (at most the ring buffer) comes on top of the live allowance.
  let limit = maxQueued;
  let lastGiven: string | null = null;
  let done = false;
  let failure: Error | null = null;
  let waiter: ((r: IteratorResult<T>) => void) | null = null;
  let failWaiter: ((err: Error) => void) | null = null;
  let poll: NodeJS.Timeout | null = null;

  const unsubscribe = tape.onPrint((print) => {
    if (wanted !== null && !wanted.has(print.symbol)) return;
    if (queue.length - head >= limit) return overflow();
    queue.push(print);
    if (waiter !== null) settle();
  });

  if (input.lastEventId) {
    for (const print of tape.after(BigInt(input.lastEventId))) {
      if (wanted === null || wanted.has(print.symbol)) queue.push(print);
    }
    limit += queue.length;
  }

  const onAbort = () => finish();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) finish();

  function cleanup() {
    unsubscribe();
    signal?.removeEventListener('abort', onAbort);
    if (poll !== null) clearTimeout(poll);
    poll = null;
    queue = [];
    head = 0;
  }

  function finish() {
    if (done) return;
    done = true;
    cleanup();
    const w = waiter;
    waiter = failWaiter = null;
    w?.({ done: true, value: undefined });
  }

  function overflow() {
    if (done) return;
    const queued = queue.length - head;
    done = true;
    failure = appError('TOO_MANY_REQUESTS', 'This subscriber fell behind the tape; subscribe again with lastEventId to resume', {
      reason: 'SLOW_SUBSCRIBER',
      lastEventId: lastGiven,
    });
    cleanup();
    opts.onOverflow?.({ queued, lastEventId: lastGiven });
    const fw = failWaiter;
    waiter = failWaiter = null;
    if (fw) {
      fw(failure);
      failure = null;
    }
  }

  const held = () => backlog !== undefined && backlog() > highWater;

  function take(): T {
    const print = queue[head++]!;
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
      limit = maxQueued;
    }
    lastGiven = print.id;
    return opts.map(print);
  }

  // Hands the next print to a waiting next(), unless the transport is still behind.
  function settle() {
    if (held()) {
      poll ??= setTimeout(() => {
        poll = null;
        if (waiter !== null && head < queue.length) settle();
      }, BACKLOG_POLL_MS);
      return;
    }
    const w = waiter!;
    waiter = failWaiter = null;
    w({ done: false, value: take() });
  }

  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (failure !== null) {
        const err = failure;
        failure = null;
        return Promise.reject(err);
      }
      if (done) return Promise.resolve({ done: true, value: undefined });
      if (head < queue.length && !held()) return Promise.resolve({ done: false, value: take() });
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiter = resolve;
        failWaiter = reject;
        if (head < queue.length) settle();
      });
    },
    return() {
      finish();
      return Promise.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

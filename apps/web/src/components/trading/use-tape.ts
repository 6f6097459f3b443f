import type { TapePrint } from '@tapevision/api/schemas';
import { useEffect, useMemo, useRef, useState } from 'react';
import { errorMessage } from '../../lib/errors.ts';
import { trpc } from '../../trpc.ts';

/** Prints the tape keeps in memory; older ones scroll off (the server keeps its own buffer). */
export const MAX_TAPE_PRINTS = 1_000;
/** Points each symbol's chart keeps. */
export const MAX_CHART_POINTS = 300;
/**
 * Prints arriving within this long are shown together: a busy tape would otherwise re-render the
 * chart and every panel on each print, and the eye cannot follow faster than this anyway.
 */
const FLUSH_MS = 150;

export type StreamState = 'connecting' | 'live' | 'error';

/** useSubscription's status in plain words: 'pending' is tRPC's "connected, waiting for data". */
export function streamState(status: string): StreamState {
  return status === 'pending' ? 'live' : status === 'error' ? 'error' : 'connecting';
}

export interface ChartPoint {
  /** Epoch milliseconds, for a time axis. */
  t: number;
  price: number;
  id: string;
}

export interface LivePrice {
  price: number;
  at: string;
  /** Against the symbol's print before, for an up / down tick mark. */
  change: 'up' | 'down' | 'flat';
}

export interface Tape {
  /** Newest first, at most MAX_TAPE_PRINTS. */
  prints: TapePrint[];
  /** Per symbol, oldest first, at most MAX_CHART_POINTS. */
  series: Readonly<Record<string, ChartPoint[]>>;
  /** The newest price of each symbol: market.lastPrices at first, then every print. */
  lastPrices: ReadonlyMap<string, LivePrice>;
  state: StreamState;
  error: string | null;
  /** Prints received since the page opened (not capped). */
  received: number;
}

interface Buffers {
  prints: TapePrint[];
  series: Record<string, ChartPoint[]>;
  live: Record<string, LivePrice>;
  received: number;
}

const EMPTY: Buffers = { prints: [], series: {}, live: {}, received: 0 };

function addPrint(b: Buffers, print: TapePrint): Buffers {
  // tRPC resumes after the last tracked id, but a print must never count twice.
  if (b.prints.some((p) => p.id === print.id)) return b;
  const points = [...(b.series[print.symbol] ?? []), { t: new Date(print.at).getTime(), price: print.price, id: print.id }];
  const before = b.live[print.symbol]?.price;
  return {
    prints: [print, ...b.prints].slice(0, MAX_TAPE_PRINTS),
    series: { ...b.series, [print.symbol]: points.slice(-MAX_CHART_POINTS) },
    live: {
      ...b.live,
      [print.symbol]: {
        price: print.price,
        at: print.at,
        change: before === undefined || before === print.price ? 'flat' : print.price > before ? 'up' : 'down',
      },
    },
    received: b.received + 1,
  };
}

/**
 * One subscription to market.onTape for the whole dashboard. After a dropped socket tRPC
 * resubscribes with the last tracked id, so the tape resumes without a gap.
 */
export function useTape(): Tape {
  const initial = trpc.market.lastPrices.useQuery(undefined, { staleTime: Infinity });
  const [buffers, setBuffers] = useState<Buffers>(EMPTY);
  const queue = useRef<TapePrint[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );

  const subscription = trpc.market.onTape.useSubscription(undefined, {
    onData: ({ data: print }) => {
      queue.current.push(print);
      timer.current ??= setTimeout(() => {
        timer.current = null;
        const batch = queue.current.splice(0);
        setBuffers((b) => batch.reduce(addPrint, b));
      }, FLUSH_MS);
    },
  });

  const lastPrices = useMemo(() => {
    const merged = new Map<string, LivePrice>();
    for (const p of initial.data ?? []) {
      if (p.price !== null && p.at !== null) merged.set(p.symbol, { price: p.price, at: p.at, change: 'flat' });
    }
    for (const [symbol, live] of Object.entries(buffers.live)) {
      const known = merged.get(symbol);
      if (!known || known.at <= live.at) merged.set(symbol, live);
    }
    return merged;
  }, [initial.data, buffers.live]);

  return {
    prints: buffers.prints,
    series: buffers.series,
    lastPrices,
    state: streamState(subscription.status),
    error: subscription.error ? errorMessage(subscription.error) : null,
    received: buffers.received,
  };
}

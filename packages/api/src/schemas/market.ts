import { z } from 'zod';
import { text } from './text.ts';
import type { Side } from '../trading/market-data.ts';
import { DEFAULT_UNIVERSE } from '../trading/instruments.ts';

const SYMBOLS = DEFAULT_UNIVERSE.map((i) => i.symbol) as [string, ...string[]];

export const marketOnTapeInput = z
  .strictObject({
    /** Only these symbols; every symbol of the universe when omitted. */
    symbols: z.array(z.enum(SYMBOLS)).min(1).max(SYMBOLS.length).optional(),
    /** The id of the last print seen; sent by tRPC's wsLink when it resubscribes. */
    lastEventId: text().regex(/^\d{1,19}$/).nullish(),
  })
  .optional();

export type MarketOnTapeInput = z.infer<typeof marketOnTapeInput>;

/** One print as every process delivers it; `id` is the same everywhere and grows with time. */
export interface TapePrint {
  /** Decimal integer (up to 19 digits); compare as BigInt, not as text. */
  id: string;
  at: string;
  symbol: string;
  price: number;
  size: number;
  side: Side;
}

export interface LastPrice {
  symbol: string;
  price: number | null;
  at: string | null;
  printId: string | null;
}

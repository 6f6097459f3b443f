import type { MarketTape } from '../services/market-tape.ts';
import type { TapePrint } from '../schemas/market.ts';
import { DEFAULT_UNIVERSE, type Instrument } from './instruments.ts';
import type { MarketData, Print } from './market-data.ts';

export interface TapeMarketData extends MarketData {
  /** The tape id of the print a `Print.seq` came from (prints carry ids too large for a number). */
  printIdOf(seq: number): string | undefined;
}

/**
 * The shared tape seen as {@link MarketData}, so a broker fills against what every process and
 * every client sees. Starting and stopping belong to the process producing the tape, not here.
 */
export function tapeMarketData(tape: Pick<MarketTape, 'lastPrices' | 'onPrint' | 'after'>, universe: readonly Instrument[] = DEFAULT_UNIVERSE): TapeMarketData {
  let seq = 0;
  // Only the newest print per symbol and the ones being delivered need their id looked up.
  const ids = new Map<number, string>();
  const bySymbol = new Map<string, Print>();

  function toPrint(p: TapePrint): Print {
    seq += 1;
    ids.set(seq, p.id);
    const previous = bySymbol.get(p.symbol);
    if (previous) ids.delete(previous.seq);
    const print: Print = { seq, at: p.at, symbol: p.symbol, price: p.price, size: p.size, side: p.side };
    bySymbol.set(p.symbol, print);
    return print;
  }

  function latest(symbol: string): Print | undefined {
    const known = tape.lastPrices().find((p) => p.symbol === symbol);
    if (!known || known.price === null || known.printId === null || known.at === null) return undefined;
    const cached = bySymbol.get(symbol);
    if (cached && ids.get(cached.seq) === known.printId) return cached;
    return toPrint({ id: known.printId, at: known.at, symbol, price: known.price, size: 1, side: 'BUY' });
  }

  const listeners = new Set<(print: Print) => void>();
  let unsubscribe: (() => void) | undefined;

  return {
    universe: () => [...universe],
    lastPrice: (symbol) => latest(symbol)?.price,
    lastPrint: latest,
    printIdOf: (s) => ids.get(s),
    onPrint(listener) {
      listeners.add(listener);
      unsubscribe ??= tape.onPrint((p) => {
        const print = toPrint(p);
        for (const l of [...listeners]) l(print);
      });
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) {
          unsubscribe?.();
          unsubscribe = undefined;
        }
      };
    },
    start() {},
    stop() {},
    running: true,
  };
}

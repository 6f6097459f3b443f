import type { Instrument } from './instruments.ts';

export type Side = 'BUY' | 'SELL';

/** One trade on the tape. */
export interface Print {
  /** Increases by one per print across all symbols, so a consumer can spot gaps and resume. */
  readonly seq: number;
  /** ISO 8601 time of the trade. */
  readonly at: string;
  readonly symbol: string;
  readonly price: number;
  readonly size: number;
  /** The aggressor: BUY when a buyer lifted the offer, SELL when a seller hit the bid. */
  readonly side: Side;
}

export type PrintListener = (print: Print) => void;

/** A source of prints. The simulator is one; a live feed adapter would be another. */
export interface MarketData {
  universe(): Instrument[];
  /** Price of the symbol's latest print; undefined before its first print or for an unknown symbol. */
  lastPrice(symbol: string): number | undefined;
  /** The symbol's latest print itself, so a fill can name the print it was priced from. */
  lastPrint(symbol: string): Print | undefined;
  /** Returns the unsubscribe function. */
  onPrint(listener: PrintListener): () => void;
  start(): void;
  stop(): void;
  readonly running: boolean;
}

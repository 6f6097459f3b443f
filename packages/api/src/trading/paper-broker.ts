import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../deps.ts';
import type { Broker, BrokerEvent, BrokerOrder, BrokerOrderState, Fill, LimitOrder } from './broker.ts';
import { findInstrument, isOnTick, priceToTicks, ticksToPrice, type Instrument } from './instruments.ts';
import { createListeners } from './listeners.ts';
import type { MarketData, Print } from './market-data.ts';

export interface PaperBrokerOptions {
  market: MarketData;
  /** Ticks added against the taker on market orders (buys higher, sells lower). Integer ≥ 0. */
  slippageTicks: number;
  clock?: Clock;
  newId?: () => string;
}

export interface PaperBroker extends Broker {
  /** Working orders in the order they were submitted. */
  workingOrders(): BrokerOrderState[];
  /** Unsubscribes from the market: no fills and no new orders afterwards. Idempotent. */
  stop(): void;
}

/**
 * Fills against a {@link MarketData} tape. Every fill is for the whole quantity: the tape is
 * simulated, so modelling queue position and partial fills would add noise, not realism.
 */
export function createPaperBroker(options: PaperBrokerOptions): PaperBroker {
  const { market, slippageTicks } = options;
  const clock = options.clock ?? systemClock;
  const newId = options.newId ?? randomUUID;
  if (!Number.isInteger(slippageTicks) || slippageTicks < 0) throw new RangeError('slippageTicks must be an integer ≥ 0');

  const listeners = createListeners<BrokerEvent>();
  // Only working orders are held: finished ones live on in the events, so memory does not grow with history.
  const working = new Map<string, BrokerOrderState & { order: LimitOrder }>();
  let stopped = false;

  const announce = (state: BrokerOrderState) => listeners.emit({ type: 'order', order: state });

  function finish(state: BrokerOrderState, price: number, printSeq: number, at: string): BrokerOrderState {
    const { order } = state;
    const fill: Fill = { orderId: state.id, symbol: order.symbol, side: order.side, price, quantity: order.quantity, at, printSeq };
    const filled: BrokerOrderState = { ...state, status: 'filled', filledQuantity: order.quantity, averageFillPrice: price, updatedAt: at };
    listeners.emit({ type: 'fill', fill });
    announce(filled);
    return filled;
  }

  function onPrint(print: Print) {
    // A copy: a listener reacting to one fill may cancel or submit other orders.
    for (const state of [...working.values()]) {
      if (stopped) return;
      if (state.order.symbol !== print.symbol || !working.has(state.id)) continue;
      const { side, limitPrice } = state.order;
      const crosses = side === 'BUY' ? print.price <= limitPrice : print.price >= limitPrice;
      if (!crosses) continue;
      working.delete(state.id);
      // The print's price is at the limit or better, which is what a resting limit order gets.
      finish(state, print.price, print.seq, print.at);
    }
  }

  const unsubscribe = market.onPrint(onPrint);

  function rejection(order: BrokerOrder, instrument: Instrument | undefined): string | undefined {
    if (stopped) return 'broker stopped';
    if (!instrument) return `unknown symbol ${String(order.symbol)}`;
    if (order.side !== 'BUY' && order.side !== 'SELL') return 'side must be BUY or SELL';
    if (!Number.isSafeInteger(order.quantity) || order.quantity <= 0) return 'quantity must be a positive whole number';
    if (order.type === 'limit') {
      if (!(order.limitPrice > 0) || !isOnTick(order.limitPrice, instrument.tickSize)) {
        return `limit price must be positive and a multiple of ${instrument.tickSize}`;
      }
      return undefined;
    }
    if (order.type !== 'market') return 'type must be market or limit';
    if (market.lastPrint(order.symbol) === undefined) return `no last price for ${order.symbol}`;
    return undefined;
  }

  return {
    submit(order) {
      const now = clock.now().toISOString();
      const state: BrokerOrderState = { id: newId(), order, status: 'working', filledQuantity: 0, submittedAt: now, updatedAt: now };
      const instrument = findInstrument(market.universe(), order.symbol);
      const reason = rejection(order, instrument);
      if (reason !== undefined || !instrument) {
        const rejected: BrokerOrderState = { ...state, status: 'rejected', reason: reason ?? 'unknown symbol' };
        announce(rejected);
        return rejected;
      }
      if (order.type === 'limit') {
        // Rests even when marketable: it fills on the next print that crosses, at that print's price.
        const resting = { ...state, order };
        working.set(state.id, resting);
        announce(resting);
        return resting;
      }
      const print = market.lastPrint(order.symbol)!;
      const slip = order.side === 'BUY' ? slippageTicks : -slippageTicks;
      // Floored at one tick: slippage on a sell near zero must not produce a price of zero or below.
      const price = ticksToPrice(Math.max(1, priceToTicks(print.price, instrument.tickSize) + slip), instrument.tickSize);
      return finish(state, price, print.seq, now);
    },
    cancel(orderId) {
      const state = working.get(orderId);
      if (!state) return false;
      working.delete(orderId);
      announce({ ...state, status: 'cancelled', updatedAt: clock.now().toISOString() });
      return true;
    },
    onEvent: (listener) => listeners.add(listener),
    workingOrders: () => [...working.values()],
    stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe();
    },
  };
}

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BrokerEvent, BrokerOrder } from './broker.ts';
import { DEFAULT_UNIVERSE, ES } from './instruments.ts';
import { createListeners } from './listeners.ts';
import type { MarketData, Print, Side } from './market-data.ts';
import { createPaperBroker } from './paper-broker.ts';
import { createSimulatedMarket } from './simulated-market.ts';

const NOW = '2025-01-02T14:30:00.000Z';
const clock = { now: () => new Date(NOW) };

/** A tape the test writes by hand, so every fill condition can be hit exactly. */
function handTape() {
  const listeners = createListeners<Print>();
  const last = new Map<string, Print>();
  let seq = 0;
  const market: MarketData = {
    universe: () => [...DEFAULT_UNIVERSE],
    lastPrice: (symbol) => last.get(symbol)?.price,
    lastPrint: (symbol) => last.get(symbol),
    onPrint: (listener) => listeners.add(listener),
    start() {},
    stop() {},
    running: true,
  };
  const print = (symbol: string, price: number, side: Side = 'BUY'): Print => {
    const p = { seq: ++seq, at: `2025-01-02T14:31:${String(seq).padStart(2, '0')}.000Z`, symbol, price, size: 1, side };
    last.set(symbol, p);
    listeners.emit(p);
    return p;
  };
  return { market, print, listenerCount: () => listeners.size };
}

function setup(slippageTicks = 0) {
  const tape = handTape();
  let n = 0;
  const broker = createPaperBroker({ market: tape.market, slippageTicks, clock, newId: () => `o${++n}` });
  const events: BrokerEvent[] = [];
  broker.onEvent((e) => events.push(e));
  const fills = () => events.flatMap((e) => (e.type === 'fill' ? [e.fill] : []));
  const statuses = () => events.flatMap((e) => (e.type === 'order' ? [`${e.order.id}:${e.order.status}`] : []));
  return { ...tape, broker, events, fills, statuses };
}

const buy = (symbol: string, quantity: number, limitPrice?: number): BrokerOrder =>
  limitPrice === undefined ? { type: 'market', symbol, side: 'BUY', quantity } : { type: 'limit', symbol, side: 'BUY', quantity, limitPrice };
const sell = (symbol: string, quantity: number, limitPrice?: number): BrokerOrder =>
  limitPrice === undefined ? { type: 'market', symbol, side: 'SELL', quantity } : { type: 'limit', symbol, side: 'SELL', quantity, limitPrice };

describe('market orders', () => {
  it('fill at once at the last price, slipped against the taker on both sides', () => {
    const { broker, print, fills } = setup(2);
    const last = print('ES', 5000);
    print('CL', 78.5);
    const b = broker.submit(buy('ES', 3));
    expect(b).toMatchObject({ id: 'o1', status: 'filled', filledQuantity: 3, averageFillPrice: 5000.5, updatedAt: NOW });
    expect(broker.submit(sell('ES', 1)).averageFillPrice).toBe(4999.5);
    // CL slips in its own tick size, and lands on an exact decimal.
    expect(broker.submit(buy('CL', 1)).averageFillPrice).toBe(78.52);
    expect(broker.submit(sell('CL', 1)).averageFillPrice).toBe(78.48);
    expect(fills()[0]).toEqual({ orderId: 'o1', symbol: 'ES', side: 'BUY', price: 5000.5, quantity: 3, at: NOW, printSeq: last.seq });
  });

  it('fill at the last price exactly without slippage', () => {
    const { broker, print } = setup(0);
    print('NQ', 18000.25);
    expect(broker.submit(buy('NQ', 1)).averageFillPrice).toBe(18000.25);
  });

  it('announce the fill before the order that it filled', () => {
    const { broker, print, events } = setup();
    print('ES', 5000);
    broker.submit(buy('ES', 1));
    expect(events.map((e) => (e.type === 'fill' ? 'fill' : e.order.status))).toEqual(['fill', 'filled']);
  });

  it('are rejected when the symbol has no last price yet', () => {
    const { broker, statuses, fills } = setup();
    expect(broker.submit(buy('ES', 1))).toMatchObject({ status: 'rejected', reason: 'no last price for ES' });
    expect(statuses()).toEqual(['o1:rejected']);
    expect(fills()).toEqual([]);
  });
});

describe('order validation', () => {
  it('rejects what no broker would accept, with a reason', () => {
    const { broker, print } = setup();
    print('ES', 5000);
    const reasons = [
      buy('ZZ', 1),
      buy('ES', 0),
      buy('ES', 1.5),
      buy('ES', 1, 5000.1),
      buy('ES', 1, 0),
      { type: 'market', symbol: 'ES', side: 'HOLD', quantity: 1 } as unknown as BrokerOrder,
      { type: 'stop', symbol: 'ES', side: 'BUY', quantity: 1 } as unknown as BrokerOrder,
    ].map((o) => {
      const state = broker.submit(o);
      expect(state.status).toBe('rejected');
      return state.reason;
    });
    expect(reasons).toEqual([
      'unknown symbol ZZ',
      'quantity must be a positive whole number',
      'quantity must be a positive whole number',
      'limit price must be positive and a multiple of 0.25',
      'limit price must be positive and a multiple of 0.25',
      'side must be BUY or SELL',
      'type must be market or limit',
    ]);
    expect(broker.workingOrders()).toEqual([]);
  });

  it('refuses a slippage that is not a whole number of ticks', () => {
    const { market } = handTape();
    expect(() => createPaperBroker({ market, slippageTicks: -1 })).toThrow(/slippageTicks/);
    expect(() => createPaperBroker({ market, slippageTicks: 0.5 })).toThrow(/slippageTicks/);
  });
});

describe('limit orders', () => {
  it('rest until a print crosses, then fill at the limit', () => {
    const { broker, print, fills, statuses } = setup(3);
    print('ES', 5000);
    const order = broker.submit(buy('ES', 2, 4999));
    expect(order.status).toBe('working');
    expect(broker.workingOrders()).toEqual([order]);
    print('ES', 4999.25);
    print('NQ', 1); // another symbol never fills it
    expect(fills()).toEqual([]);
    const touch = print('ES', 4999);
    expect(fills()).toEqual([{ orderId: 'o1', symbol: 'ES', side: 'BUY', price: 4999, quantity: 2, at: touch.at, printSeq: touch.seq }]);
    expect(statuses()).toEqual(['o1:working', 'o1:filled']);
    expect(broker.workingOrders()).toEqual([]);
    print('ES', 4998);
    expect(fills()).toHaveLength(1);
  });

  it('fill at the print price when the print is better than the limit', () => {
    const { broker, print, fills } = setup();
    broker.submit(buy('ES', 1, 5000));
    broker.submit(sell('CL', 1, 78.5));
    print('ES', 4998.75);
    print('CL', 78.61);
    expect(fills().map((f) => [f.symbol, f.price])).toEqual([
      ['ES', 4998.75],
      ['CL', 78.61],
    ]);
  });

  it('sell limits fill on a print at or above, not below', () => {
    const { broker, print, fills } = setup();
    broker.submit(sell('NQ', 1, 18000));
    print('NQ', 17999.75);
    expect(fills()).toEqual([]);
    print('NQ', 18000);
    expect(fills().map((f) => f.price)).toEqual([18000]);
  });

  it('rest even when marketable, and fill on the next crossing print in submission order', () => {
    const { broker, print, fills } = setup();
    print('ES', 5000);
    broker.submit(buy('ES', 1, 5010));
    broker.submit(buy('ES', 1, 5005));
    expect(fills()).toEqual([]);
    print('ES', 5001);
    expect(fills().map((f) => [f.orderId, f.price])).toEqual([
      ['o1', 5001],
      ['o2', 5001],
    ]);
  });
});

describe('cancel', () => {
  it('works only on working orders, and a cancelled order never fills', () => {
    const { broker, print, fills, statuses } = setup();
    print('ES', 5000);
    const resting = broker.submit(buy('ES', 1, 4990));
    const filled = broker.submit(buy('ES', 1));
    expect(broker.cancel(resting.id)).toBe(true);
    expect(broker.cancel(resting.id)).toBe(false);
    expect(broker.cancel(filled.id)).toBe(false);
    expect(broker.cancel('nope')).toBe(false);
    print('ES', 4980);
    expect(fills().map((f) => f.orderId)).toEqual([filled.id]);
    expect(statuses()).toEqual(['o1:working', 'o2:filled', 'o1:cancelled']);
  });

  it('from a fill listener stops a sibling order filling on the same print', () => {
    const { broker, print, fills } = setup();
    const a = broker.submit(buy('ES', 1, 5000));
    const b = broker.submit(buy('ES', 1, 5000));
    broker.onEvent((e) => {
      if (e.type === 'fill' && e.fill.orderId === a.id) broker.cancel(b.id);
    });
    print('ES', 5000);
    expect(fills().map((f) => f.orderId)).toEqual([a.id]);
  });
});

describe('stop', () => {
  it('unsubscribes from the market: no fills and no new orders afterwards', () => {
    const { broker, print, fills, listenerCount } = setup();
    expect(listenerCount()).toBe(1);
    broker.submit(buy('ES', 1, 5000));
    broker.stop();
    broker.stop();
    expect(listenerCount()).toBe(0);
    print('ES', 4990);
    expect(fills()).toEqual([]);
    expect(broker.submit(buy('ES', 1))).toMatchObject({ status: 'rejected', reason: 'broker stopped' });
  });

  it('stops event listeners that unsubscribe', () => {
    const { broker, print } = setup();
    const seen: BrokerEvent[] = [];
    const off = broker.onEvent((e) => seen.push(e));
    off();
    print('ES', 5000);
    broker.submit(buy('ES', 1));
    expect(seen).toEqual([]);
  });
});

describe('against the simulated market', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fills a limit on the first print that crosses it', () => {
    const market = createSimulatedMarket({ seed: 11, printsPerSecond: 10, clock });
    const broker = createPaperBroker({ market, slippageTicks: 1, clock });
    const events: BrokerEvent[] = [];
    broker.onEvent((e) => events.push(e));
    const opening = market.step(30);
    const es = opening.filter((p) => p.symbol === 'ES').at(-1)!;
    const limit = es.price - 1; // four ticks under the last ES print
    broker.submit(buy('ES', 1, limit));
    const tape = market.step(5000);
    const crossing = tape.find((p) => p.symbol === 'ES' && p.price <= limit);
    expect(crossing).toBeDefined();
    const fill = events.find((e) => e.type === 'fill');
    expect(fill).toEqual({ type: 'fill', fill: expect.objectContaining({ price: crossing!.price, printSeq: crossing!.seq }) });
    broker.stop();
  });

  it('stops filling when the market stops', () => {
    vi.useFakeTimers();
    const market = createSimulatedMarket({ universe: [ES], seed: 5, printsPerSecond: 50 });
    const broker = createPaperBroker({ market, slippageTicks: 0 });
    let fills = 0;
    broker.onEvent((e) => void (e.type === 'fill' && fills++));
    market.start();
    vi.advanceTimersByTime(200);
    market.stop();
    // A buy limit far above the market would fill on the very next print.
    broker.submit(buy('ES', 1, market.lastPrice('ES')! + 100));
    vi.advanceTimersByTime(10_000);
    expect(fills).toBe(0);
    broker.stop();
  });
});

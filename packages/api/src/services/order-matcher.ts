import { and, eq } from 'drizzle-orm';
import { orders, type DatabaseHandle, type Tx } from '@tapevision/db';
import { auditedTransaction } from '../audit/recorder.ts';
import type { ApiDeps } from '../deps.ts';
import type { Fill } from '../trading/broker.ts';
import { DEFAULT_UNIVERSE, type Instrument } from '../trading/instruments.ts';
import { createPaperBroker, type PaperBroker } from '../trading/paper-broker.ts';
import { tapeMarketData } from '../trading/tape-market-data.ts';
import { bookFill, lockAccount } from './order-fills.ts';
import { createLeaderLoop, type LeaderLoop } from './leader-loop.ts';
import type { MarketTape } from './market-tape.ts';
import { appendTradingEvents, publishTradingEvent, TRADING_EVENTS_CHANNEL } from './trading-events.ts';

// Same family as the other lock keys (…114–120); one process at a time fills resting orders.
export const ORDER_MATCHER_LOCK_KEY = 7_401_236_121;

export interface OrderMatcherOptions {
  database: Pick<DatabaseHandle, 'tryLock'>;
  deps: Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'logger' | 'audit'>;
  tape: Pick<MarketTape, 'lastPrices' | 'onPrint' | 'after'>;
  /** How often a follower tries for the lock, the leader checks it and re-reads working orders. */
  retryMs: number;
  universe?: readonly Instrument[];
}

export type OrderMatcher = LeaderLoop;

/**
 * Fills resting limit orders when the tape crosses them. Exactly one process does it (whichever
 * holds the lock), with a paper broker fed every working order from the database; a fill is
 * booked only if the order is still working, so a cancel from any process and a fill never both
 * win, and a new leader simply reloads what is working.
 */
export function createOrderMatcher(opts: OrderMatcherOptions): OrderMatcher {
  const { deps } = opts;
  const universe = opts.universe ?? DEFAULT_UNIVERSE;
  let broker: PaperBroker | null = null;
  /** Our order id → the broker's id for it, and back. */
  const brokerIdOf = new Map<string, string>();
  const orderIdOf = new Map<string, string>();

  async function book(fill: Fill) {
    const orderId = orderIdOf.get(fill.orderId);
    if (!orderId) return;
    orderIdOf.delete(fill.orderId);
    brokerIdOf.delete(orderId);
    const at = new Date(fill.at);
    const result = await auditedTransaction(deps, async (tx: Tx) => {
      const [peek] = await tx.select({ ownerId: orders.ownerId }).from(orders).where(eq(orders.id, orderId));
      if (!peek) return null;
      await lockAccount(tx, peek.ownerId);
      const [order] = await tx.select().from(orders).where(and(eq(orders.id, orderId), eq(orders.status, 'working'))).for('update');
      // Cancelled (or filled by an earlier leader) meanwhile: nothing to book.
      if (!order) return null;
      const booked = await bookFill(tx, universe, order, { price: fill.price, quantity: fill.quantity, printId: null, at });
      await deps.audit.recordIn(tx, {
        action: 'trade.executed',
        outcome: 'success',
        actor: { type: 'system' },
        origin: { ip: null, userAgent: null, requestId: null },
        resource: { type: 'order', id: orderId },
        details: {
          ownerId: booked.order.ownerId,
          botId: booked.order.botId,
          clientOrderId: booked.order.clientOrderId,
          symbol: fill.symbol,
          side: fill.side,
          type: 'limit',
          quantity: fill.quantity,
          fillPrice: fill.price,
          status: booked.order.status,
        },
      });
      return { booked, eventId: await appendTradingEvents(tx, booked.events) };
    });
    if (!result) return;
    await publishTradingEvent(deps.bus, result.eventId);
  }

  // Fills are booked one at a time, in the order the tape produced them.
  let booking: Promise<void> = Promise.resolve();
  function enqueueFill(fill: Fill) {
    booking = booking.then(() => book(fill)).catch((err: unknown) => deps.logger.error({ err, orderId: orderIdOf.get(fill.orderId) }, 'limit fill not booked'));
  }

  /** Brings the broker's working set in line with the database's. */
  async function sync() {
    if (!broker) return;
    const working = await deps.db
      .select({ id: orders.id, symbol: orders.symbol, side: orders.side, quantity: orders.quantity, limitPrice: orders.limitPrice })
      .from(orders)
      .where(and(eq(orders.status, 'working'), eq(orders.type, 'limit')));
    if (!broker) return;
    const live = new Set(working.map((o) => o.id));
    for (const [orderId, brokerId] of brokerIdOf) {
      if (live.has(orderId)) continue;
      broker.cancel(brokerId);
      brokerIdOf.delete(orderId);
      orderIdOf.delete(brokerId);
    }
    for (const o of working) {
      if (brokerIdOf.has(o.id) || o.limitPrice === null) continue;
      const state = broker.submit({ type: 'limit', symbol: o.symbol, side: o.side, quantity: o.quantity, limitPrice: o.limitPrice });
      if (state.status !== 'working') {
        deps.logger.warn({ orderId: o.id, reason: state.reason }, 'working order refused by the paper broker');
        continue;
      }
      brokerIdOf.set(o.id, state.id);
      orderIdOf.set(state.id, o.id);
    }
  }

  return createLeaderLoop({
    name: 'order matcher',
    database: opts.database,
    lockKey: ORDER_MATCHER_LOCK_KEY,
    bus: deps.bus,
    // Notices come with every fill and order; the loop turns any number of them into one re-read.
    channels: [TRADING_EVENTS_CHANNEL],
    retryMs: opts.retryMs,
    logger: deps.logger,
    role: {
      lead() {
        broker = createPaperBroker({ market: tapeMarketData(opts.tape, universe), slippageTicks: 0, clock: deps.clock });
        broker.onEvent((event) => {
          if (event.type === 'fill') enqueueFill(event.fill);
        });
      },
      tick: sync,
      async stepDown() {
        broker?.stop();
        broker = null;
        brokerIdOf.clear();
        orderIdOf.clear();
        await booking;
      },
    },
  });
}

import type { Side } from './market-data.ts';

interface OrderBase {
  readonly symbol: string;
  readonly side: Side;
  /** Whole contracts, > 0. */
  readonly quantity: number;
}

export interface MarketOrder extends OrderBase {
  readonly type: 'market';
}

export interface LimitOrder extends OrderBase {
  readonly type: 'limit';
  /** On tick for the instrument. */
  readonly limitPrice: number;
}

export type BrokerOrder = MarketOrder | LimitOrder;

export type OrderStatus = 'working' | 'filled' | 'cancelled' | 'rejected';

/** A snapshot: each change produces a new object, so one a caller holds never changes under it. */
export interface BrokerOrderState {
  readonly id: string;
  readonly order: BrokerOrder;
  readonly status: OrderStatus;
  readonly filledQuantity: number;
  /** Set once anything has filled. */
  readonly averageFillPrice?: number;
  /** Why the order was rejected or cancelled by the broker. */
  readonly reason?: string;
  readonly submittedAt: string;
  readonly updatedAt: string;
}

export interface Fill {
  readonly orderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly price: number;
  readonly quantity: number;
  readonly at: string;
  /** The print the fill was priced from: the crossing print for limits, the last print for market orders. */
  readonly printSeq: number;
}

/** A fill always comes before the `order` event that reports the order filled. */
export type BrokerEvent = { readonly type: 'fill'; readonly fill: Fill } | { readonly type: 'order'; readonly order: BrokerOrderState };

export type BrokerListener = (event: BrokerEvent) => void;

/** Where orders go. The paper broker is one; a real broker adapter would be another. */
export interface Broker {
  /** Never throws for a bad order: it comes back (and is announced) as `rejected` with a reason. */
  submit(order: BrokerOrder): BrokerOrderState;
  /** True when a working order was cancelled; false when unknown or already done. */
  cancel(orderId: string): boolean;
  /** Returns the unsubscribe function. */
  onEvent(listener: BrokerListener): () => void;
}

import type { AlertView, FillView, OrderView, Page } from '@tapevision/api/schemas';
import { skipToken } from '@tanstack/react-query';
import { errorMessage } from '../../lib/errors.ts';
import { trpc } from '../../trpc.ts';
import { streamState, type StreamState } from './use-tape.ts';

const OPEN_ORDERS_LIMIT = 100;
export const RECENT_FILLS_LIMIT = 50;
const ALERTS_LIMIT = 50;

export interface DeskScope {
  /** One account (the caller's own), or undefined for every account (accounts.view). */
  ownerId: string | undefined;
  alerts: boolean;
}

function upsertNewestFirst<T extends { id: string }>(items: readonly T[], item: T, limit: number): T[] {
  return [item, ...items.filter((i) => i.id !== item.id)].slice(0, limit);
}

/**
 * The account's open orders, recent fills, positions and alerts, kept current by trading.onOrder,
 * trading.onTrade and alerts.onAlert: every browser signed in to the account (or watching every
 * account) sees an order, a fill or an alert the moment it commits.
 */
export function useDesk({ ownerId, alerts: withAlerts }: DeskScope) {
  const utils = trpc.useUtils();
  const owner = ownerId ? { ownerId } : {};
  const ordersInput = { ...owner, status: 'working' as const, limit: OPEN_ORDERS_LIMIT };
  const fillsInput = { ...owner, limit: RECENT_FILLS_LIMIT };
  const positionsInput = ownerId ? { ownerId } : undefined;
  const alertsInput = { limit: ALERTS_LIMIT };

  const orders = trpc.trading.orders.useQuery(ordersInput);
  const fills = trpc.trading.trades.useQuery(fillsInput);
  const positions = trpc.positions.list.useQuery(positionsInput);
  const alerts = trpc.alerts.list.useQuery(withAlerts ? alertsInput : skipToken);

  const inScope = (event: { ownerId: string | null }) => !ownerId || event.ownerId === ownerId;

  // Events that committed between a list's fetch and the stream's start would be missed: refetch
  // once the stream is up (duplicates are merged by id).
  const onOrder = trpc.trading.onOrder.useSubscription(undefined, {
    onStarted: () => void utils.trading.orders.invalidate(),
    onData: ({ data: order }) => {
      if (!inScope(order)) return;
      utils.trading.orders.setData(ordersInput, (page: Page<OrderView> | undefined) => {
        if (!page) return page;
        const rest = page.items.filter((o) => o.id !== order.id);
        return { ...page, items: order.status === 'working' ? upsertNewestFirst(page.items, order, OPEN_ORDERS_LIMIT) : rest };
      });
    },
  });
  const onTrade = trpc.trading.onTrade.useSubscription(undefined, {
    onStarted: () => {
      void utils.trading.trades.invalidate();
      void utils.positions.list.invalidate();
    },
    onData: ({ data: fill }) => {
      if (!inScope(fill)) return;
      utils.trading.trades.setData(fillsInput, (page: Page<FillView> | undefined) =>
        page ? { ...page, items: upsertNewestFirst(page.items, fill, RECENT_FILLS_LIMIT) } : page,
      );
      // Quantity, average and realised P&L change with a fill; the server has the books.
      void utils.positions.list.invalidate();
      void utils.trading.orders.invalidate();
    },
  });
  const onAlert = trpc.alerts.onAlert.useSubscription(withAlerts ? undefined : skipToken, {
    onStarted: () => void utils.alerts.list.invalidate(),
    onData: ({ data: alert }) => {
      utils.alerts.list.setData(alertsInput, (list: AlertView[] | undefined) => (list ? upsertNewestFirst(list, alert, ALERTS_LIMIT) : list));
    },
  });

  /** After this browser's own order: show it without waiting for the stream. */
  function orderPlaced(order: OrderView) {
    utils.trading.orders.setData(ordersInput, (page) => {
      if (!page) return page;
      const rest = page.items.filter((o) => o.id !== order.id);
      return { ...page, items: order.status === 'working' ? [order, ...rest] : rest };
    });
    if (order.filledQuantity > 0) {
      void utils.trading.trades.invalidate();
      void utils.positions.list.invalidate();
    }
  }

  const streams: StreamState[] = [onOrder.status, onTrade.status, ...(withAlerts ? [onAlert.status] : [])].map(streamState);
  const streamError = onOrder.error ?? onTrade.error ?? (withAlerts ? onAlert.error : null);
  return {
    orders,
    fills,
    positions,
    alerts,
    orderPlaced,
    state: streams.includes('error') ? 'error' : streams.every((s) => s === 'live') ? 'live' : ('connecting' as StreamState),
    streamError: streamError ? errorMessage(streamError) : null,
  };
}

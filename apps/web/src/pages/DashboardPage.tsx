import type { OrderView } from '@tapevision/api/schemas';
import { useMemo, useState, type ReactNode } from 'react';
import { useSignedIn } from '../auth/use-auth.ts';
import { ErrorAlert } from '../components/Alert.tsx';
import { Loading } from '../components/Loading.tsx';
import { PermissionList } from '../components/PermissionList.tsx';
import { EngineStatusPanel } from '../components/trading/EngineStatusPanel.tsx';
import { KillSwitch } from '../components/trading/KillSwitch.tsx';
import { LiveTape } from '../components/trading/LiveTape.tsx';
import { AlertsList, FillsTable, OpenOrders } from '../components/trading/OrdersAndFills.tsx';
import { markToMarket } from '../components/trading/pnl.ts';
import { PositionsPanel } from '../components/trading/PositionsPanel.tsx';
import { LastPrices, PriceChart } from '../components/trading/PriceChart.tsx';
import { TradeTicket } from '../components/trading/TradeTicket.tsx';
import { useDesk } from '../components/trading/use-desk.ts';
import { useTape } from '../components/trading/use-tape.ts';
import { errorMessage } from '../lib/errors.ts';
import { useMe } from '../lib/use-me.ts';
import { trpc } from '../trpc.ts';
import './dashboard.css';

type Scope = 'mine' | 'all';

/**
 * The trading desk: the market, the account's orders, fills, positions and alerts, and the engine,
 * all live. Controls a role may not use are not shown; the server refuses them regardless.
 */
export default function DashboardPage() {
  const { user } = useSignedIn();
  const me = useMe();
  const permissions = new Set<string>(me.data?.permissions ?? []);
  const can = (p: string) => permissions.has(p);
  const status = trpc.system.status.useQuery(undefined, { staleTime: 30_000 });
  const tape = useTape();
  const [chartSymbol, setChartSymbol] = useState<string | null>(null);
  // Those who see every account (a viewer, an admin) may watch the whole desk; one who trades
  // starts on their own account.
  const [chosenScope, setScope] = useState<Scope | null>(null);
  const scope: Scope = can('accounts.view') ? (chosenScope ?? (can('trading.execute') ? 'mine' : 'all')) : 'mine';
  const desk = useDesk({ ownerId: scope === 'mine' ? user.id : undefined, alerts: can('alerts.view') });

  const execute = trpc.trading.execute.useMutation();
  const cancel = trpc.trading.cancel.useMutation();
  const close = trpc.positions.close.useMutation();
  const [cancelling, setCancelling] = useState<ReadonlySet<string>>(new Set());
  const [actionError, setActionError] = useState<string | null>(null);

  const universe = status.data?.universe;
  const symbol = chartSymbol ?? universe?.[0]?.symbol ?? null;
  const live = useMemo(
    () => (desk.positions.data && universe ? markToMarket(desk.positions.data, tape.lastPrices, universe) : null),
    [desk.positions.data, tape.lastPrices, universe],
  );
  const ownerLabel = scope === 'all' ? (id: string) => (id === user.id ? 'you' : id.slice(0, 8)) : undefined;

  async function placeOrder(input: Parameters<typeof execute.mutateAsync>[0]): Promise<OrderView> {
    const order = await execute.mutateAsync(input);
    desk.orderPlaced(order);
    return order;
  }

  async function cancelOrder(order: OrderView) {
    setActionError(null);
    setCancelling((s) => new Set(s).add(order.id));
    try {
      desk.orderPlaced(await cancel.mutateAsync({ orderId: order.id }));
    } catch (err) {
      setActionError(`Could not cancel the order: ${errorMessage(err)}`);
      void desk.orders.refetch();
    } finally {
      setCancelling((s) => {
        const next = new Set(s);
        next.delete(order.id);
        return next;
      });
    }
  }

  async function closePosition(closing: string) {
    setActionError(null);
    try {
      // A position larger than maxOrderQuantity closes in several orders: show each of them.
      const closed = await close.mutateAsync({ symbol: closing, clientOrderId: crypto.randomUUID() });
      for (const order of closed.orders) desk.orderPlaced(order);
    } catch (err) {
      setActionError(`Could not close ${closing}: ${errorMessage(err)}`);
    }
  }

  const ready = !!(status.data && me.data && desk.orders.data && desk.fills.data && desk.positions.data);

  return (
    <section className="page dashboard" data-desk-ready={ready}>
      <div className="page-head">
        <div>
          <h1>Dashboard</h1>
          <p className="lead">The market, {scope === 'all' ? "every account's" : 'your'} orders, fills and P&amp;L, and the engine, as they happen.</p>
        </div>
        <div className="dash-head-side">
          {can('accounts.view') && (
            <div className="segmented" role="group" aria-label="Accounts shown">
              <button type="button" aria-pressed={scope === 'mine'} onClick={() => setScope('mine')}>
                My account
              </button>
              <button type="button" aria-pressed={scope === 'all'} onClick={() => setScope('all')}>
                All accounts
              </button>
            </div>
          )}
          <span className={`live live-${tape.state === 'error' ? 'offline' : tape.state}`} data-tape-state={tape.state} title="Live market data">
            <span className="live-dot" aria-hidden="true" />
            {tape.state === 'live' ? 'Market live' : tape.state === 'error' ? 'Market offline' : 'Connecting…'}
          </span>
          <span className={`live live-${desk.state === 'error' ? 'offline' : desk.state}`} data-desk-state={desk.state} title="Live orders, fills and alerts">
            <span className="live-dot" aria-hidden="true" />
            {desk.state === 'live' ? 'Orders live' : desk.state === 'error' ? 'Orders offline' : 'Connecting…'}
          </span>
        </div>
      </div>
      {tape.error && <ErrorAlert>Live tape: {tape.error}</ErrorAlert>}
      {desk.streamError && <ErrorAlert>Live orders and fills: {desk.streamError}</ErrorAlert>}
      {status.error && <ErrorAlert error={status.error} />}
      {actionError && <ErrorAlert>{actionError}</ErrorAlert>}
      {(status.isPending || me.isPending) && <Loading label="Loading the desk…" />}
      {status.data && me.data && universe && (
        <div className="dash-grid">
          <div className="dash-main">
            <section className="card dash-card market-card" aria-labelledby="market-title">
              <div className="card-head">
                <h2 id="market-title">Market</h2>
              </div>
              <LastPrices universe={universe} lastPrices={tape.lastPrices} selected={symbol ?? ''} onSelect={setChartSymbol} />
              {symbol && <PriceChart symbol={symbol} points={tape.series[symbol] ?? []} universe={universe} />}
            </section>

            <DeskCard id="positions-title" title="Positions and P&L" query={desk.positions} loading="Loading positions…">
              {live && (
                <PositionsPanel
                  summary={live}
                  universe={universe}
                  canClose={can('positions.manage') && scope === 'mine'}
                  closing={close.isPending ? (close.variables?.symbol ?? null) : null}
                  onClose={(s) => void closePosition(s)}
                  ownerLabel={ownerLabel}
                />
              )}
            </DeskCard>

            <DeskCard id="orders-title" title="Open orders" query={desk.orders} loading="Loading orders…">
              {desk.orders.data && (
                <OpenOrders
                  orders={desk.orders.data.items}
                  universe={universe}
                  canCancel={can('trading.execute')}
                  isOwn={(o) => o.ownerId === user.id}
                  cancelling={cancelling}
                  onCancel={(o) => void cancelOrder(o)}
                  ownerLabel={ownerLabel}
                />
              )}
            </DeskCard>

            <DeskCard id="fills-title" title="Recent fills" query={desk.fills} loading="Loading fills…">
              {desk.fills.data && <FillsTable fills={desk.fills.data.items} universe={universe} ownerLabel={ownerLabel} />}
            </DeskCard>
          </div>

          <aside className="dash-side">
            {can('trading.execute') && (
              <section className="card dash-card" aria-labelledby="ticket-title">
                <h2 id="ticket-title">Trade ticket</h2>
                <TradeTicket universe={universe} lastPrices={tape.lastPrices} engineRunning={status.data.state === 'running'} submit={placeOrder} />
              </section>
            )}
            <EngineStatusPanel status={status.data} canStart={can('system.start')} canStop={can('system.stop')} />
            {(can('trading.execute') || can('positions.manage')) && (
              <KillSwitch everyAccount={can('security.manage')} canCancel={can('trading.execute')} canFlatten={can('positions.manage')} />
            )}
            {can('alerts.view') && (
              <section className="card dash-card" aria-labelledby="alerts-title">
                <h2 id="alerts-title">Alerts</h2>
                {desk.alerts.error && <ErrorAlert error={desk.alerts.error} />}
                {desk.alerts.isPending && <Loading label="Loading alerts…" />}
                {desk.alerts.data && <AlertsList alerts={desk.alerts.data} />}
              </section>
            )}
            <LiveTape tape={tape} universe={universe} />
            <section className="card dash-card access-card" aria-labelledby="access-title">
              <h2 id="access-title">What your role may do</h2>
              <p className="muted">
                Signed in as a <strong>{me.data.role}</strong>. The desk shows only the controls your role may use; the server refuses the rest
                whatever a page sends.
              </p>
              <PermissionList />
            </section>
          </aside>
        </div>
      )}
    </section>
  );
}

/** One of the desk's cards over a query: its title, the query's error or loading state, then the content. */
function DeskCard({
  id,
  title,
  query,
  loading,
  children,
}: {
  id: string;
  title: string;
  query: { error: unknown; isPending: boolean };
  loading: string;
  children: ReactNode;
}) {
  return (
    <section className="card dash-card" aria-labelledby={id}>
      <div className="card-head">
        <h2 id={id}>{title}</h2>
      </div>
      {query.error ? <ErrorAlert error={query.error} /> : null}
      {query.isPending && <Loading label={loading} />}
      {children}
    </section>
  );
}

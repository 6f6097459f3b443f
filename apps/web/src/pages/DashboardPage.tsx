import { useState } from 'react';
import { ErrorAlert } from '../components/Alert.tsx';
import { Loading } from '../components/Loading.tsx';
import { PermissionList } from '../components/PermissionList.tsx';
import { EngineStatusPanel } from '../components/trading/EngineStatusPanel.tsx';
import { LiveTape } from '../components/trading/LiveTape.tsx';
import { LastPrices, PriceChart } from '../components/trading/PriceChart.tsx';
import { useTape } from '../components/trading/use-tape.ts';
import { useMe } from '../lib/use-me.ts';
import { trpc } from '../trpc.ts';
import './dashboard.css';

/**
 * The trading desk: the engine, the market, and (as permissions allow) the ticket. Controls a
 * role may not use are not shown; the server refuses them regardless.
 */
export default function DashboardPage() {
  const me = useMe();
  const status = trpc.system.status.useQuery(undefined, { staleTime: 30_000 });
  const tape = useTape();
  const [chartSymbol, setChartSymbol] = useState<string | null>(null);
  const permissions = new Set<string>(me.data?.permissions ?? []);
  const universe = status.data?.universe;
  const symbol = chartSymbol ?? universe?.[0]?.symbol ?? null;

  return (
    <section className="page dashboard">
      <div className="page-head">
        <div>
          <h1>Dashboard</h1>
          <p className="lead">The live tape, your orders and positions, and the engine, as they happen.</p>
        </div>
        <span className={`live live-${tape.state === 'error' ? 'offline' : tape.state}`} data-tape-state={tape.state} title="Live market data">
          <span className="live-dot" aria-hidden="true" />
          {tape.state === 'live' ? 'Market live' : tape.state === 'error' ? 'Market offline' : 'Connecting…'}
        </span>
      </div>
      {tape.error && <ErrorAlert>Live tape: {tape.error}</ErrorAlert>}
      {status.error && <ErrorAlert error={status.error} />}
      {(status.isPending || me.isPending) && <Loading label="Loading the desk…" />}
      {status.data && me.data && (
        <div className="dash-grid">
          <div className="dash-main">
            <section className="card dash-card market-card" aria-labelledby="market-title">
              <div className="card-head">
                <h2 id="market-title">Market</h2>
              </div>
              <LastPrices universe={status.data.universe} lastPrices={tape.lastPrices} selected={symbol ?? ''} onSelect={setChartSymbol} />
              {symbol && <PriceChart symbol={symbol} points={tape.series[symbol] ?? []} universe={universe} />}
            </section>
          </div>
          <aside className="dash-side">
            <EngineStatusPanel status={status.data} canStart={permissions.has('system.start')} canStop={permissions.has('system.stop')} />
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

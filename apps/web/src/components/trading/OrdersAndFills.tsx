import type { AlertView, FillView, OrderView, UniverseInstrument } from '@tapevision/api/schemas';
import { formatClock, formatPrice, instrumentOf } from '../../lib/money.ts';
import { AccountCell, NumHeader, SideCell, SymbolCell } from './cells.tsx';

/** Working orders, newest first; Cancel for those who may trade. */
export function OpenOrders({
  orders,
  universe,
  canCancel,
  isOwn,
  cancelling,
  onCancel,
  ownerLabel,
}: {
  orders: readonly OrderView[];
  universe: readonly UniverseInstrument[];
  canCancel: boolean;
  /** Only one's own orders can be cancelled, whatever else one may see. */
  isOwn: (order: OrderView) => boolean;
  ownerLabel?: ((ownerId: string) => string) | undefined;
  cancelling: ReadonlySet<string>;
  onCancel: (order: OrderView) => void;
}) {
  if (orders.length === 0) return <p className="muted">No open orders.</p>;
  return (
    <div className="dash-table-wrap">
      <table className="table" aria-label="Open orders">
        <thead>
          <tr>
            {ownerLabel && <th scope="col">Account</th>}
            <th scope="col">Placed</th>
            <th scope="col">Side</th>
            <th scope="col">Symbol</th>
            <NumHeader>Quantity</NumHeader>
            <NumHeader>Limit</NumHeader>
            <NumHeader>Filled</NumHeader>
            {canCancel && (
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {orders.map((o) => (
            <tr key={o.id} data-order-id={o.id} data-status={o.status}>
              <AccountCell ownerId={o.ownerId} ownerLabel={ownerLabel} />
              <td title={o.reason}>{formatClock(o.createdAt)}</td>
              <SideCell side={o.side} />
              <SymbolCell symbol={o.symbol} botId={o.botId} />
              <td className="num">{o.quantity}</td>
              <td className="num">{o.type === 'limit' ? formatPrice(o.limitPrice, instrumentOf(universe, o.symbol)) : 'market'}</td>
              <td className="num">{o.filledQuantity}</td>
              {canCancel && (
                <td className="cell-actions">
                  {isOwn(o) && (
                    <button
                      type="button"
                      className="btn btn-secondary btn-small"
                      disabled={cancelling.has(o.id)}
                      aria-label={`Cancel ${o.side} ${o.quantity} ${o.symbol}${o.type === 'limit' ? ` at ${formatPrice(o.limitPrice, instrumentOf(universe, o.symbol))}` : ''}`}
                      onClick={() => onCancel(o)}
                    >
                      {cancelling.has(o.id) ? 'Cancelling…' : 'Cancel'}
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Fills, newest first. */
export function FillsTable({
  fills,
  universe,
  label = 'Recent fills',
  ownerLabel,
}: {
  fills: readonly FillView[];
  universe: readonly UniverseInstrument[] | undefined;
  label?: string;
  ownerLabel?: ((ownerId: string) => string) | undefined;
}) {
  if (fills.length === 0) return <p className="muted">No fills yet.</p>;
  return (
    <div className="dash-table-wrap">
      <table className="table" aria-label={label}>
        <thead>
          <tr>
            {ownerLabel && <th scope="col">Account</th>}
            <th scope="col">Time</th>
            <th scope="col">Side</th>
            <th scope="col">Symbol</th>
            <NumHeader>Quantity</NumHeader>
            <NumHeader>Price</NumHeader>
          </tr>
        </thead>
        <tbody>
          {fills.map((f) => (
            <tr key={f.id} data-fill-id={f.id} data-order-id={f.orderId}>
              <AccountCell ownerId={f.ownerId} ownerLabel={ownerLabel} />
              <td>{formatClock(f.at)}</td>
              <SideCell side={f.side} />
              <SymbolCell symbol={f.symbol} botId={f.botId} />
              <td className="num">{f.quantity}</td>
              <td className="num">{formatPrice(f.price, instrumentOf(universe, f.symbol))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Alerts, newest first. */
export function AlertsList({ alerts }: { alerts: readonly AlertView[] }) {
  if (alerts.length === 0) return <p className="muted">No alerts.</p>;
  return (
    <ul className="alerts-list" aria-label="Alerts">
      {alerts.map((a) => (
        <li key={a.id} className={`severity-${a.severity}`} data-alert-id={a.id} data-rule={a.rule}>
          <strong>{a.message}</strong>
          <span className="alert-meta">
            {formatClock(a.at)} · {a.severity} · <code>{a.rule}</code>
            {a.symbol ? ` · ${a.symbol}` : ''}
          </span>
        </li>
      ))}
    </ul>
  );
}

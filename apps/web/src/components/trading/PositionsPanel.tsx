import type { UniverseInstrument } from '@tapevision/api/schemas';
import { formatPnl, formatPrice, instrumentOf, pnlClass } from '../../lib/money.ts';
import { ConfirmButton } from '../ConfirmButton.tsx';
import { AccountCell, NumHeader } from './cells.tsx';
import type { LiveSummary } from './pnl.ts';

/** Open positions and P&L, re-marked with every print; Close for those who may manage positions. */
export function PositionsPanel({
  summary,
  universe,
  canClose,
  closing,
  onClose,
  ownerLabel,
}: {
  summary: LiveSummary;
  universe: readonly UniverseInstrument[];
  canClose: boolean;
  closing: string | null;
  onClose: (symbol: string) => void;
  /** With every account shown: names each row's account. */
  ownerLabel?: ((ownerId: string) => string) | undefined;
}) {
  const { totals } = summary;
  const open = summary.positions.filter((p) => p.quantity !== 0);
  return (
    <>
      <dl className="totals" aria-label="Profit and loss">
        <PnlTotal label="Total P&L" testId="pnl-total" value={totals.total} />
        <PnlTotal label="Unrealised" testId="pnl-unrealized" value={totals.unrealized} />
        <PnlTotal label="Realised" testId="pnl-realized" value={totals.realized} />
      </dl>
      {open.length === 0 ? (
        <p className="muted">No open positions.</p>
      ) : (
        <div className="dash-table-wrap">
          <table className="table" aria-label="Positions">
            <thead>
              <tr>
                {ownerLabel && <th scope="col">Account</th>}
                <th scope="col">Symbol</th>
                <NumHeader>Quantity</NumHeader>
                <NumHeader>Average</NumHeader>
                <NumHeader>Last</NumHeader>
                <NumHeader>Unrealised</NumHeader>
                <NumHeader>Realised</NumHeader>
                {canClose && (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {open.map((p) => {
                const instrument = instrumentOf(universe, p.symbol);
                return (
                  <tr key={`${p.ownerId}:${p.symbol}`} data-position={p.symbol} data-quantity={p.quantity}>
                    <AccountCell ownerId={p.ownerId} ownerLabel={ownerLabel} />
                    <th scope="row">{p.symbol}</th>
                    <td className={`num ${p.quantity > 0 ? 'side-buy' : 'side-sell'}`}>{p.quantity > 0 ? `+${p.quantity}` : p.quantity}</td>
                    <td className="num">{formatPrice(p.averagePrice, instrument)}</td>
                    <td className="num">{formatPrice(p.markPrice, instrument)}</td>
                    <td className={`num ${pnlClass(p.unrealizedPnl)}`}>{formatPnl(p.unrealizedPnl)}</td>
                    <td className={`num ${pnlClass(p.realizedPnl)}`}>{formatPnl(p.realizedPnl)}</td>
                    {canClose && (
                      <td className="cell-actions">
                        <ConfirmButton
                          variant="secondary"
                          question={`Close ${p.symbol} at market?`}
                          confirmLabel={`Close ${p.symbol}`}
                          disabled={closing === p.symbol}
                          onConfirm={() => onClose(p.symbol)}
                        >
                          {closing === p.symbol ? 'Closing…' : 'Close'}
                        </ConfirmButton>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function PnlTotal({ label, testId, value }: { label: string; testId: string; value: number }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd className={pnlClass(value)} data-testid={testId} data-value={value}>
        {formatPnl(value)}
      </dd>
    </div>
  );
}

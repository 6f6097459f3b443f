import type { ReactNode } from 'react';

/** The cells every trading table shares, so tape, orders, fills and positions read the same. */

/** A right-aligned column header, for quantities, prices and P&L. */
export function NumHeader({ children }: { children: ReactNode }) {
  return (
    <th scope="col" className="num">
      {children}
    </th>
  );
}

/** BUY in the buy colour, SELL in the sell colour. */
export function SideCell({ side }: { side: 'BUY' | 'SELL' }) {
  return <td className={side === 'BUY' ? 'side-buy' : 'side-sell'}>{side}</td>;
}

/** The symbol, marked when a bot placed the order. */
export function SymbolCell({ symbol, botId }: { symbol: string; botId: string | null }) {
  return (
    <td>
      {symbol}
      {botId && <span className="badge badge-muted">bot</span>}
    </td>
  );
}

/** The row's account, shown only when every account is listed. */
export function AccountCell({ ownerId, ownerLabel }: { ownerId: string; ownerLabel: ((ownerId: string) => string) | undefined }) {
  return ownerLabel ? <td title={ownerId}>{ownerLabel(ownerId)}</td> : null;
}

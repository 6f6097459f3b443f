import type { UniverseInstrument } from '@tapevision/api/schemas';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useLayoutEffect, useRef } from 'react';
import { formatClock, formatPrice, instrumentOf } from '../../lib/money.ts';
import type { Tape } from './use-tape.ts';
import { MAX_TAPE_PRINTS } from './use-tape.ts';
import { NumHeader, SideCell } from './cells.tsx';

const ROW_HEIGHT = 30;
const COLUMNS = 5;

/**
 * The tape, newest on top, as a virtualised table: a busy market fills the buffer quickly, and
 * only the rows in view are in the DOM. Someone scrolled down to read stays where they are.
 */
export function LiveTape({ tape, universe }: { tape: Tape; universe: readonly UniverseInstrument[] | undefined }) {
  const rows = tape.prints;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    getItemKey: (index) => rows[index]?.id ?? index,
    overscan: 10,
    useFlushSync: false,
  });

  const firstIdRef = useRef(rows[0]?.id);
  useLayoutEffect(() => {
    const previous = firstIdRef.current;
    firstIdRef.current = rows[0]?.id;
    const el = scrollRef.current;
    if (!previous || !el || el.scrollTop === 0) return;
    const shift = rows.findIndex((r) => r.id === previous);
    if (shift > 0) el.scrollTop += shift * ROW_HEIGHT;
  }, [rows]);

  const items = virtualizer.getVirtualItems();
  const paddingTop = items.length ? items[0]!.start : 0;
  const paddingBottom = items.length ? virtualizer.getTotalSize() - items[items.length - 1]!.end : 0;

  return (
    <section className="card dash-card tape-card" aria-labelledby="tape-title">
      <div className="card-head">
        <h2 id="tape-title">Live tape</h2>
        <span className="muted tape-count" data-received={tape.received} aria-live="off">
          {tape.received.toLocaleString()} prints{tape.received > MAX_TAPE_PRINTS ? ` (newest ${MAX_TAPE_PRINTS.toLocaleString()} kept)` : ''}
        </span>
      </div>
      {rows.length === 0 ? (
        <p className="muted tape-empty">No prints yet. The tape moves while the engine is running.</p>
      ) : (
        <div ref={scrollRef} className="tape-scroll" tabIndex={0} role="region" aria-label="Live tape, scrollable" data-testid="tape-scroll">
          <table className="table tape-table" aria-label="Live tape" aria-rowcount={rows.length + 1}>
            <thead>
              <tr aria-rowindex={1}>
                <th scope="col">Time</th>
                <th scope="col">Symbol</th>
                <th scope="col">Side</th>
                <NumHeader>Size</NumHeader>
                <NumHeader>Price</NumHeader>
              </tr>
            </thead>
            <tbody>
              {paddingTop > 0 && (
                <tr aria-hidden="true">
                  <td colSpan={COLUMNS} style={{ height: paddingTop, padding: 0 }} />
                </tr>
              )}
              {items.map((item) => {
                const print = rows[item.index]!;
                return (
                  <tr key={item.key} data-print-id={print.id} aria-rowindex={item.index + 2} style={{ height: ROW_HEIGHT }}>
                    <td>{formatClock(print.at)}</td>
                    <td>{print.symbol}</td>
                    <SideCell side={print.side} />
                    <td className="num">{print.size}</td>
                    <td className="num">{formatPrice(print.price, instrumentOf(universe, print.symbol))}</td>
                  </tr>
                );
              })}
              {paddingBottom > 0 && (
                <tr aria-hidden="true">
                  <td colSpan={COLUMNS} style={{ height: paddingBottom, padding: 0 }} />
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

import type { AuditEntry } from '@tapevision/api/schemas';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useRef } from 'react';
import { formatDateTimeSeconds } from '../../lib/format.ts';

/** Every row is one line high (longer cells are cut with an ellipsis), so no row needs measuring. */
const ROW_HEIGHT = 40;
/** Start loading the next page while this many loaded rows are still below the viewport. */
const PREFETCH_ROWS = 30;
const COLUMNS = 7;

export function severityClass(severity: string): string {
  return `severity severity-${severity.toLowerCase()}`;
}

export function outcomeClass(outcome: string): string {
  return `badge outcome outcome-${outcome}`;
}

/** A person by email, a key by name; the id only when the name is gone (a deleted account). */
export function actorLabel(entry: Pick<AuditEntry, 'actorType' | 'actorId' | 'actorName'>): string {
  if (entry.actorName) return entry.actorName;
  return entry.actorId ? `${entry.actorType} ${entry.actorId}` : entry.actorType;
}

export function resourceLabel(entry: Pick<AuditEntry, 'resourceType' | 'resourceId' | 'resourceName'>): string {
  if (!entry.resourceType) return '—';
  if (entry.resourceName) return `${entry.resourceType} ${entry.resourceName}`;
  return `${entry.resourceType}${entry.resourceId ? ` ${entry.resourceId}` : ''}`;
}

/**
 * The audit log as a virtualised table: only the rows in view (and a few around them) are in the
 * DOM, so tens of thousands of loaded rows scroll as smoothly as fifty. Scrolling near the end
 * asks for the next page.
 */
export function AuditTable({
  rows,
  freshIds,
  hasNextPage,
  isFetchingNextPage,
  onLoadMore,
  selectedId,
  onSelect,
}: {
  rows: AuditEntry[];
  /** Rows the live tail brought, highlighted for a moment. */
  freshIds: ReadonlySet<string>;
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  onLoadMore: () => void;
  selectedId: string | null;
  onSelect: (entry: AuditEntry) => void;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length + (hasNextPage ? 1 : 0),
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    getItemKey: (index) => rows[index]?.id ?? 'loader',
    overscan: 12,
    // React 19 warns about flushSync during render; a frame's delay while scrolling is not visible.
    useFlushSync: false,
  });
  // Rows the live tail puts on top must not push away the rows someone scrolled down to read:
  // keep them in place, unless the reader is at the top, watching new rows come in.
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
  const lastIndex = items.length ? items[items.length - 1]!.index : -1;

  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage && lastIndex >= rows.length - PREFETCH_ROWS) onLoadMore();
  }, [lastIndex, rows.length, hasNextPage, isFetchingNextPage, onLoadMore]);

  const paddingTop = items.length ? items[0]!.start : 0;
  const paddingBottom = items.length ? virtualizer.getTotalSize() - items[items.length - 1]!.end : 0;

  return (
    <div
      ref={scrollRef}
      className="audit-scroll"
      tabIndex={0}
      role="region"
      aria-label="Audit entries, scrollable"
      data-testid="audit-scroll"
    >
      <table className="table audit-table" aria-label="Audit log" aria-rowcount={hasNextPage ? -1 : rows.length + 1}>
        <thead>
          <tr aria-rowindex={1}>
            <th scope="col" className="col-time">
              Time
            </th>
            <th scope="col" className="col-action">
              Action
            </th>
            <th scope="col" className="col-outcome">
              Outcome
            </th>
            <th scope="col" className="col-severity">
              Severity
            </th>
            <th scope="col" className="col-actor">
              Actor
            </th>
            <th scope="col" className="col-ip">
              IP address
            </th>
            <th scope="col" className="col-resource">
              Resource
            </th>
          </tr>
        </thead>
        <tbody>
          {paddingTop > 0 && (
            <tr className="audit-spacer" aria-hidden="true">
              <td colSpan={COLUMNS} style={{ height: paddingTop }} />
            </tr>
          )}
          {items.map((item) => {
            const entry = rows[item.index];
            if (!entry) {
              return (
                <tr key="loader" className="audit-loader" style={{ height: ROW_HEIGHT }}>
                  <td colSpan={COLUMNS}>
                    <span className="spinner" aria-hidden="true" /> {isFetchingNextPage ? 'Loading more entries…' : 'More entries below'}
                  </td>
                </tr>
              );
            }
            const time = formatDateTimeSeconds(entry.at);
            const selected = entry.id === selectedId;
            const classes = ['audit-row', selected ? 'row-open' : '', freshIds.has(entry.id) ? 'row-fresh' : ''].filter(Boolean);
            return (
              <tr
                key={entry.id}
                className={classes.join(' ')}
                style={{ height: ROW_HEIGHT }}
                aria-rowindex={item.index + 2}
                data-audit-id={entry.id}
                data-action={entry.action}
                data-selected={selected || undefined}
                onClick={() => onSelect(entry)}
              >
                <td className="col-time">
                  <button
                    type="button"
                    className="link-button"
                    aria-label={`Show details: ${entry.action} at ${time}`}
                    aria-current={selected ? 'true' : undefined}
                    onClick={(e) => {
                      e.stopPropagation();
                      onSelect(entry);
                    }}
                  >
                    <time dateTime={entry.at}>{time}</time>
                  </button>
                </td>
                <td className="col-action" title={entry.action}>
                  <code>{entry.action}</code>
                </td>
                <td className="col-outcome">
                  <span className={outcomeClass(entry.outcome)}>{entry.outcome}</span>
                </td>
                <td className="col-severity">
                  <span className={severityClass(entry.severity)}>{entry.severity}</span>
                </td>
                <td className="col-actor" title={entry.actorId ? `${entry.actorType} ${entry.actorId}` : entry.actorType}>
                  {actorLabel(entry)}
                </td>
                <td className="col-ip">{entry.ip ?? '—'}</td>
                <td className="col-resource" title={entry.resourceType ? `${entry.resourceType} ${entry.resourceId ?? ''}` : undefined}>
                  {resourceLabel(entry)}
                </td>
              </tr>
            );
          })}
          {paddingBottom > 0 && (
            <tr className="audit-spacer" aria-hidden="true">
              <td colSpan={COLUMNS} style={{ height: paddingBottom }} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

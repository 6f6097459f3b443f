import type { AuditEntry, AuditFilter } from '@tapevision/api/schemas';
import { useCallback, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { ErrorAlert, Notice } from '../components/Alert.tsx';
import { AuditEntryDetail } from '../components/audit/AuditEntryDetail.tsx';
import { AuditExport } from '../components/audit/AuditExport.tsx';
import { AuditFilterBar } from '../components/audit/AuditFilterBar.tsx';
import { AuditTable } from '../components/audit/AuditTable.tsx';
import { useAuditPages } from '../components/audit/use-audit-pages.ts';
import { useLiveTail, type TailState } from '../components/audit/use-live-tail.ts';
import { VerifyIntegrity } from '../components/audit/VerifyIntegrity.tsx';
import { Loading } from '../components/Loading.tsx';
import { filtersFromSearch, isEmptyFilter, searchFromFilters } from '../lib/audit-filters.ts';
import './audit.css';

const TAIL_LABELS: Record<TailState, string> = {
  off: 'Off',
  connecting: 'Connecting…',
  live: 'Live',
  error: 'Disconnected',
};

export default function AuditPage() {
  const [searchParams, setSearchParams] = useSearchParams();
  // The filters live in the URL: a filtered view can be bookmarked, shared and gone back to.
  const { filters, error: linkError } = useMemo(() => filtersFromSearch(searchParams), [searchParams]);
  /** The applied filters, normalised: what the form and the table are reset by. */
  const filterSearch = useMemo(() => searchFromFilters(filters).toString(), [filters]);
  const [tailOn, setTailOn] = useState(false);
  const [selected, setSelected] = useState<AuditEntry | null>(null);

  const list = useAuditPages(filters);
  const tail = useLiveTail(filters, tailOn);
  const { clear: clearTail } = tail;

  const rows = useMemo(() => {
    const listed = list.data?.pages.flatMap((p) => p.items) ?? [];
    const seen = new Set(listed.map((r) => r.id));
    return [...tail.rows.filter((r) => !seen.has(r.id)), ...listed];
  }, [list.data, tail.rows]);

  const apply = useCallback((next: AuditFilter) => setSearchParams(searchFromFilters(next)), [setSearchParams]);

  const { hasNextPage, isFetchingNextPage, fetchNextPage } = list;
  const loadMore = useCallback(() => void fetchNextPage(), [fetchNextPage]);
  const closeDetail = useCallback(() => setSelected(null), []);

  const loaded = list.data?.pages.reduce((n, p) => n + p.items.length, 0) ?? 0;

  return (
    <section className="page audit-page">
      <div className="page-head">
        <div>
          <h1>Audit log</h1>
          <p className="lead">
            Every sign-in, change and refusal, newest first. Entries are hash-chained: verify the chains to prove none was
            altered.
          </p>
        </div>
      </div>

      {linkError && <Notice kind="warning">{linkError}</Notice>}

      <div className="card">
        <AuditFilterBar key={filterSearch} applied={filters} onApply={apply} />
      </div>

      <div className="audit-toolbar">
        <div className="button-row">
          <button
            type="button"
            role="switch"
            aria-checked={tailOn}
            className={`btn btn-secondary tail-switch ${tailOn ? 'tail-on' : ''}`}
            onClick={() => setTailOn((on) => !on)}
          >
            <span className="tail-knob" aria-hidden="true" />
            Live tail
          </button>
          <span className={`live live-${tail.state} tail-state`} data-tail-state={tail.state} role="status">
            <span className="live-dot" aria-hidden="true" />
            {tailOn ? TAIL_LABELS[tail.state] : 'Live tail is off'}
          </span>
          <button
            type="button"
            className="btn btn-ghost"
            disabled={list.isFetching}
            onClick={() => {
              clearTail();
              void list.reload();
            }}
          >
            Refresh
          </button>
        </div>
        <div className="button-row audit-actions">
          <AuditExport filters={filters} />
          <VerifyIntegrity range={{ from: filters.from, to: filters.to }} />
        </div>
      </div>

      {tail.error && tailOn && <ErrorAlert>Live tail: {tail.error}</ErrorAlert>}

      <div className={`audit-layout ${selected ? 'has-detail' : ''}`}>
        <div className="card audit-table-card">
          <p className="audit-count muted" aria-live="polite" data-loaded-count={loaded}>
            {list.data &&
              `${rows.length.toLocaleString()} ${isEmptyFilter(filters) ? '' : 'matching '}${rows.length === 1 ? 'entry' : 'entries'}${
                tail.rows.length ? ` (${tail.rows.length.toLocaleString()} from the live tail)` : ''
              }${hasNextPage ? '; scroll for more' : ''}.`}
          </p>
          {list.isPending && <Loading label="Loading the audit log…" />}
          {list.error && !list.isFetchNextPageError && <ErrorAlert error={list.error} />}
          {list.data && rows.length === 0 && (
            <p className="muted audit-empty">{isEmptyFilter(filters) ? 'The audit log is empty.' : 'No entries match these filters.'}</p>
          )}
          {list.data && rows.length > 0 && (
            <AuditTable
              key={filterSearch}
              rows={rows}
              freshIds={tail.freshIds}
              hasNextPage={hasNextPage}
              isFetchingNextPage={isFetchingNextPage}
              onLoadMore={loadMore}
              selectedId={selected?.id ?? null}
              onSelect={setSelected}
            />
          )}
          {list.isFetchNextPageError && (
            <ErrorAlert>
              Could not load more entries.{' '}
              <button type="button" className="btn btn-secondary btn-small" onClick={loadMore}>
                Try again
              </button>
            </ErrorAlert>
          )}
        </div>
        {selected && <AuditEntryDetail entry={selected} onClose={closeDetail} />}
      </div>
    </section>
  );
}

import type { IncidentView } from '@tapevision/api';
import { SEVERITIES, STATUS_ORDER } from '@tapevision/api/schemas/incidents';
import { createColumnHelper, tableFeatures, useTable } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert } from '../Alert.tsx';
import { IncidentDetail } from './IncidentDetail.tsx';
import { SeverityBadge, StatusBadge } from './IncidentBadges.tsx';
import './incidents.css';

type Status = (typeof STATUS_ORDER)[number];
type Severity = (typeof SEVERITIES)[number];

const features = tableFeatures({});
const helper = createColumnHelper<typeof features, IncidentView>();
const columns = helper.columns([
  helper.accessor('severity', { header: 'Severity', cell: (c) => <SeverityBadge severity={c.getValue()} /> }),
  helper.accessor('status', { header: 'Status', cell: (c) => <StatusBadge status={c.getValue()} /> }),
  helper.accessor('title', { header: 'Incident' }),
  helper.accessor('detectionCount', { header: 'Detections' }),
  helper.accessor('lastDetectionAt', { header: 'Last detection', cell: (c) => formatDateTimeSeconds(c.getValue()) }),
]);

/**
 * Incidents, newest first, filtered by status and severity; kept current by incidents.onIncident
 * (an incident opened or changed on any process shows at once). A row opens its detail.
 */
export function IncidentsSection() {
  const utils = trpc.useUtils();
  const [status, setStatus] = useState<Status | ''>('');
  const [severity, setSeverity] = useState<Severity | ''>('');
  const [selected, setSelected] = useState<string | null>(null);
  const input = { ...(status ? { status } : {}), ...(severity ? { severity } : {}) };
  const list = trpc.incidents.list.useQuery(input);
  const live = trpc.incidents.onIncident.useSubscription(undefined, {
    onData: (event) => {
      void utils.incidents.list.invalidate();
      void utils.incidents.get.invalidate({ id: event.data.incident.id });
    },
  });
  const data = useMemo(() => list.data?.items ?? [], [list.data]);
  const table = useTable({ features, columns, data, getRowId: (row) => row.id });

  return (
    <section className="card" aria-labelledby="incidents-title">
      <div className="card-head">
        <h2 id="incidents-title">Incidents</h2>
        <span className={`live live-${live.status === 'pending' ? 'live' : live.status === 'error' ? 'offline' : 'connecting'}`} data-incidents-live={live.status}>
          <span className="live-dot" aria-hidden="true" />
          {live.status === 'pending' ? 'Live' : live.status === 'error' ? 'Offline' : 'Connecting…'}
        </span>
      </div>
      <div className="filter-bar">
        <label>
          Status
          <select aria-label="Status filter" value={status} onChange={(e) => setStatus(e.target.value as Status | '')}>
            <option value="">Any</option>
            {STATUS_ORDER.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Severity
          <select aria-label="Severity filter" value={severity} onChange={(e) => setSeverity(e.target.value as Severity | '')}>
            <option value="">Any</option>
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </div>
      {list.error && <ErrorAlert error={list.error} />}
      <table className="table incidents-table" aria-label="Incidents">
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((header) => (
                <th key={header.id}>{header.isPlaceholder ? null : <table.FlexRender header={header} />}</th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {table.getRowModel().rows.map((row) => (
            <tr
              key={row.id}
              data-incident-id={row.id}
              className={row.id === selected ? 'selected' : undefined}
              onClick={() => setSelected(row.id)}
              onKeyDown={(e) => e.key === 'Enter' && setSelected(row.id)}
              tabIndex={0}
              aria-selected={row.id === selected}
            >
              {row.getAllCells().map((cell) => (
                <td key={cell.id}>
                  <table.FlexRender cell={cell} />
                </td>
              ))}
            </tr>
          ))}
          {data.length === 0 && !list.isLoading && (
            <tr>
              <td colSpan={columns.length} className="muted">
                No incidents.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {selected && <IncidentDetail id={selected} onClose={() => setSelected(null)} />}
    </section>
  );
}

import type { AlertView } from '@tapevision/api/schemas';
import { useMemo, useState } from 'react';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert } from '../Alert.tsx';
import { SeverityBadge } from './IncidentBadges.tsx';

const LIMIT = 100;

/**
 * Security alerts, newest first, kept current by alerts.onAlert (kind security): raised or
 * acknowledged on any process, a row appears or changes at once. Acknowledging is idempotent.
 */
export function SecurityAlertsSection() {
  const utils = trpc.useUtils();
  const [openOnly, setOpenOnly] = useState(true);
  const list = trpc.alerts.list.useQuery({ kind: 'security', limit: LIMIT });
  const live = trpc.alerts.onAlert.useSubscription({ kind: 'security' }, { onData: () => void utils.alerts.list.invalidate({ kind: 'security' }) });
  const acknowledge = trpc.alerts.acknowledge.useMutation({ onSuccess: () => utils.alerts.list.invalidate({ kind: 'security' }) });
  const alerts = useMemo(
    () => (list.data ?? []).filter((a): a is AlertView & { security: NonNullable<AlertView['security']> } => a.security !== undefined && (!openOnly || !a.security.acknowledgedAt)),
    [list.data, openOnly],
  );

  return (
    <section className="card" aria-labelledby="security-alerts-title">
      <div className="card-head">
        <h2 id="security-alerts-title">Security alerts</h2>
        <span className={`live live-${live.status === 'pending' ? 'live' : live.status === 'error' ? 'offline' : 'connecting'}`} data-security-alerts-live={live.status}>
          <span className="live-dot" aria-hidden="true" />
          {live.status === 'pending' ? 'Live' : live.status === 'error' ? 'Offline' : 'Connecting…'}
        </span>
      </div>
      <div className="filter-bar">
        <div className="field-check">
          <input id="security-alerts-open-only" type="checkbox" checked={openOnly} onChange={(e) => setOpenOnly(e.target.checked)} />
          <label htmlFor="security-alerts-open-only">Unacknowledged only</label>
        </div>
      </div>
      {list.error && <ErrorAlert error={list.error} />}
      {acknowledge.error && <ErrorAlert error={acknowledge.error} />}
      <table className="table" aria-label="Security alerts">
        <thead>
          <tr>
            <th>Severity</th>
            <th>Raised</th>
            <th>Alert</th>
            <th>Source</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {alerts.map((a) => (
            <tr key={a.id} data-alert-id={a.id}>
              <td>
                <SeverityBadge severity={a.security.severity} />
              </td>
              <td>{formatDateTimeSeconds(a.at)}</td>
              <td>
                <strong>{a.security.title}</strong>
                <div className="muted">{a.security.message}</div>
              </td>
              <td>{a.security.ip ?? '—'}</td>
              <td>
                {a.security.acknowledgedAt ? (
                  <span className="badge badge-ok" data-acknowledged>
                    Acknowledged {formatDateTimeSeconds(a.security.acknowledgedAt)}
                  </span>
                ) : (
                  <button type="button" className="btn btn-secondary btn-small" disabled={acknowledge.isPending} onClick={() => acknowledge.mutate({ id: a.id })}>
                    Acknowledge
                  </button>
                )}
              </td>
            </tr>
          ))}
          {alerts.length === 0 && !list.isLoading && (
            <tr>
              <td colSpan={5} className="muted">
                {openOnly ? 'No unacknowledged security alerts.' : 'No security alerts.'}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert } from '../Alert.tsx';

function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const h = Math.floor(minutes / 60);
  return h > 0 ? `${h} h ${minutes % 60} min` : `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
}

/** incidents.report: how long it lasted, and the audit trail of its addresses and accounts. */
export function IncidentReportView({ id }: { id: string }) {
  const report = trpc.incidents.report.useQuery({ id });
  if (report.error) return <ErrorAlert error={report.error} />;
  if (!report.data) return <p className="muted">Building the report…</p>;
  const r = report.data;
  return (
    <section className="incident-report" aria-label="Incident report">
      <p data-report-duration>
        From {formatDateTimeSeconds(r.from)} to {formatDateTimeSeconds(r.to)}: {formatDuration(r.durationMs)}
      </p>
      <p className="muted">
        {Object.entries(r.actionCounts)
          .map(([action, n]) => `${action} × ${n}`)
          .join(' · ')}
      </p>
      <table className="table" aria-label="Audit trail">
        <thead>
          <tr>
            <th>At</th>
            <th>Action</th>
            <th>Outcome</th>
            <th>Who</th>
            <th>Address</th>
          </tr>
        </thead>
        <tbody>
          {r.auditTrail.map((a) => (
            <tr key={a.id}>
              <td>{formatDateTimeSeconds(a.at)}</td>
              <td>{a.action}</td>
              <td>{a.outcome}</td>
              <td>{a.actorEmail ?? a.actorId ?? a.actorType}</td>
              <td>{a.ip ?? '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {r.auditTruncated && <p className="muted">Only the first rows are shown.</p>}
    </section>
  );
}

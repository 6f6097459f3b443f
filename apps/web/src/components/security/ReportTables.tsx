import type { SecurityReport } from '@tapevision/api/schemas';
import { useId, type ReactNode } from 'react';
import { formatDateTime } from '../../lib/format.ts';

interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  numeric?: boolean;
}

/** One finding of the report: a titled table, or a sentence saying there is nothing to see. */
function ReportTable<T>({
  title,
  description,
  rows,
  columns,
  rowKey,
  empty,
}: {
  title: string;
  description: string;
  rows: T[];
  columns: Column<T>[];
  rowKey: (row: T, index: number) => string;
  empty: string;
}) {
  const titleId = useId();
  return (
    <section className="card report-table" aria-labelledby={titleId}>
      <h2>
        <span id={titleId}>{title}</span>{' '}
        <span className="badge badge-muted" aria-label={`${rows.length} ${rows.length === 1 ? 'row' : 'rows'}`}>
          {rows.length}
        </span>
      </h2>
      <p className="muted report-description">{description}</p>
      {rows.length === 0 ? (
        <p className="report-empty">{empty}</p>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-labelledby={titleId}>
            <thead>
              <tr>
                {columns.map((c) => (
                  <th key={c.header} scope="col" className={c.numeric ? 'num' : undefined}>
                    {c.header}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row, i) => (
                <tr key={rowKey(row, i)}>
                  {columns.map((c) => (
                    <td key={c.header} className={c.numeric ? 'num' : undefined}>
                      {c.cell(row)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

const orDash = (value: string | null) => value ?? '—';
const user = (email: string | null, id: string | null) => email ?? (id ? <code>{id}</code> : '—');

export function ReportTables({ report }: { report: SecurityReport }) {
  return (
    <div className="report-tables">
      <ReportTable
        title="Failed sign-ins by IP"
        description="Addresses with more than 10 failed sign-ins: password guessing or credential stuffing."
        rows={report.failedLoginIps}
        rowKey={(r) => r.ip}
        empty="No address had more than 10 failed sign-ins."
        columns={[
          { header: 'IP address', cell: (r) => <code>{r.ip}</code> },
          { header: 'Failures', cell: (r) => r.failures.toLocaleString(), numeric: true },
          { header: 'Accounts tried', cell: (r) => r.distinctAccounts.toLocaleString(), numeric: true },
          { header: 'Last failure', cell: (r) => formatDateTime(r.lastAt) },
        ]}
      />
      <ReportTable
        title="Destructive actions by user"
        description="Users with more than 5 deletes, exports or revocations."
        rows={report.destructiveUsers}
        rowKey={(r) => r.userId}
        empty="No user made more than 5 destructive actions."
        columns={[
          { header: 'User', cell: (r) => user(r.email, r.userId) },
          { header: 'Actions', cell: (r) => r.count.toLocaleString(), numeric: true },
          {
            header: 'Which',
            cell: (r) => (
              <ul className="inline-list">
                {Object.entries(r.actions)
                  .sort((a, b) => b[1] - a[1])
                  .map(([action, n]) => (
                    <li key={action}>
                      <code>{action}</code> × {n}
                    </li>
                  ))}
              </ul>
            ),
          },
        ]}
      />
      <ReportTable
        title="Account lock-outs"
        description="Accounts locked after repeated wrong passwords."
        rows={report.lockouts}
        rowKey={(r, i) => `${r.at}-${r.userId ?? i}`}
        empty="No account was locked."
        columns={[
          { header: 'Time', cell: (r) => formatDateTime(r.at) },
          { header: 'User', cell: (r) => user(r.email, r.userId) },
          { header: 'IP address', cell: (r) => orDash(r.ip) },
        ]}
      />
      <ReportTable
        title="Refresh token reuse"
        description="A rotated refresh token presented again: treated as stolen, and its session revoked."
        rows={report.refreshReuse}
        rowKey={(r, i) => `${r.at}-${r.sessionId ?? i}`}
        empty="No refresh token was reused."
        columns={[
          { header: 'Time', cell: (r) => formatDateTime(r.at) },
          { header: 'User', cell: (r) => user(r.email, r.userId) },
          { header: 'Session', cell: (r) => (r.sessionId ? <code>{r.sessionId}</code> : '—') },
          { header: 'IP address', cell: (r) => orDash(r.ip) },
        ]}
      />
      <ReportTable
        title="Rate-limit denials"
        description="Requests refused for going over a rate limit, by who sent them."
        rows={report.rateLimitDenials}
        rowKey={(r) => `${r.actorType}-${r.principal}`}
        empty="No request was refused for its rate."
        columns={[
          { header: 'Principal', cell: (r) => <code>{r.principal}</code> },
          { header: 'Type', cell: (r) => r.actorType },
          { header: 'Denials', cell: (r) => r.denials.toLocaleString(), numeric: true },
          { header: 'Last denial', cell: (r) => formatDateTime(r.lastAt) },
        ]}
      />
    </div>
  );
}

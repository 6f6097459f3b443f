import { describeUserAgent, formatDateTime, formatRelative } from '../lib/format.ts';
import type { SessionView } from '../types.ts';

/** Sessions as a table; with onRevoke, every row but this device's gets a Revoke button. */
export function SessionTable({
  sessions,
  caption,
  onRevoke,
  revokingId,
}: {
  sessions: SessionView[];
  caption: string;
  onRevoke?: (session: SessionView) => void;
  revokingId?: string | null;
}) {
  if (sessions.length === 0) return <p className="muted">No active sessions.</p>;
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">IP address</th>
            <th scope="col">Signed in</th>
            <th scope="col">Last active</th>
            <th scope="col">Expires</th>
            {onRevoke && (
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => {
            const device = describeUserAgent(s.userAgent);
            return (
              <tr key={s.id} data-session-id={s.id} className={s.current ? 'row-current' : undefined}>
                <td>
                  <div className="device">
                    <span>{device}</span>
                    {s.current && <span className="badge badge-current">This device</span>}
                  </div>
                  {s.userAgent && (
                    <div className="ua" title={s.userAgent}>
                      {s.userAgent}
                    </div>
                  )}
                </td>
                <td>{s.ip ?? '—'}</td>
                <td>{formatDateTime(s.createdAt)}</td>
                <td title={formatDateTime(s.lastSeenAt)}>{formatRelative(s.lastSeenAt)}</td>
                <td title={formatDateTime(s.expiresAt)}>{formatRelative(s.expiresAt)}</td>
                {onRevoke && (
                  <td className="cell-actions">
                    {!s.current && (
                      <button
                        type="button"
                        className="btn btn-danger btn-small"
                        disabled={revokingId === s.id}
                        aria-label={`Revoke session: ${device}, ${s.ip ?? 'unknown address'}, signed in ${formatDateTime(s.createdAt)}`}
                        onClick={() => onRevoke(s)}
                      >
                        {revokingId === s.id ? 'Revoking…' : 'Revoke'}
                      </button>
                    )}
                  </td>
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

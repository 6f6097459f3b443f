import type { SecurityReport } from '@tapevision/api/schemas';
import { useId, type ReactNode } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

const OUTCOME_COLORS = { success: '#12b76a', failure: '#d92d20', denied: '#f79009' } as const;
const TOP_ACTIONS = 12;

const dayLabel = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

/** "2025-01-31" (or a time on that day) → "Jan 31"; anything else as it is. */
function formatDay(day: string): string {
  return /^\d{4}-\d{2}-\d{2}/.test(day) ? dayLabel.format(new Date(`${day.slice(0, 10)}T00:00:00Z`)) : day;
}

/** A chart with its title, and its numbers as a table for those who cannot see the bars. */
function ChartFigure({ title, summary, children, table }: { title: string; summary: string; children: ReactNode; table: ReactNode }) {
  const titleId = useId();
  const summaryId = useId();
  return (
    <figure className="card report-chart" aria-labelledby={titleId} aria-describedby={summaryId}>
      <figcaption>
        <h2 id={titleId}>{title}</h2>
        <p className="muted" id={summaryId}>
          {summary}
        </p>
      </figcaption>
      {children}
      <details className="chart-data">
        <summary>Show the numbers</summary>
        {table}
      </details>
    </figure>
  );
}

export function EventsPerDayChart({ report }: { report: SecurityReport }) {
  // One entry per UTC day of the range, quiet days included (the server fills them in).
  const days = report.perDay;
  const totals = days.reduce(
    (t, d) => ({ success: t.success + d.success, failure: t.failure + d.failure, denied: t.denied + d.denied }),
    { success: 0, failure: 0, denied: 0 },
  );
  const total = totals.success + totals.failure + totals.denied;
  const summary =
    total === 0
      ? 'No events in this range.'
      : `${total.toLocaleString()} events: ${totals.success.toLocaleString()} succeeded, ${totals.failure.toLocaleString()} failed, ${totals.denied.toLocaleString()} denied.`;
  return (
    <ChartFigure
      title="Events per day"
      summary={summary}
      table={
        <table className="table">
          <caption className="sr-only">Events per day by outcome</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Success</th>
              <th scope="col">Failure</th>
              <th scope="col">Denied</th>
            </tr>
          </thead>
          <tbody>
            {days.map((d) => (
              <tr key={d.day}>
                <th scope="row">{formatDay(d.day)}</th>
                <td>{d.success}</td>
                <td>{d.failure}</td>
                <td>{d.denied}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    >
      {total === 0 ? (
        <p className="chart-empty">Nothing to chart.</p>
      ) : (
        <div className="chart-box" data-testid="chart-per-day">
          <ResponsiveContainer width="100%" height={300}>
            <BarChart data={days} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" vertical={false} />
              <XAxis dataKey="day" tickFormatter={formatDay} minTickGap={12} />
              <YAxis allowDecimals={false} width={48} />
              <Tooltip labelFormatter={(label) => formatDay(String(label))} />
              <Legend />
              <Bar dataKey="success" name="Success" stackId="outcome" fill={OUTCOME_COLORS.success} isAnimationActive={false} />
              <Bar dataKey="failure" name="Failure" stackId="outcome" fill={OUTCOME_COLORS.failure} isAnimationActive={false} />
              <Bar dataKey="denied" name="Denied" stackId="outcome" fill={OUTCOME_COLORS.denied} isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
    </ChartFigure>
  );
}

export function TopActionsChart({ report }: { report: SecurityReport }) {
  const sorted = [...report.actions].sort((a, b) => b.count - a.count || a.action.localeCompare(b.action));
  const top = sorted.slice(0, TOP_ACTIONS);
  const summary =
    sorted.length === 0
      ? 'No actions in this range.'
      : `${sorted.length} different actions; the most frequent is ${sorted[0]!.action} (${sorted[0]!.count.toLocaleString()}).`;
  return (
    <ChartFigure
      title="Top actions"
      summary={summary}
      table={
        <table className="table">
          <caption className="sr-only">Every action in the range</caption>
          <thead>
            <tr>
              <th scope="col">Action</th>
              <th scope="col">Count</th>
              <th scope="col">Users</th>
              <th scope="col">IP addresses</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((a) => (
              <tr key={a.action}>
                <th scope="row">
                  <code>{a.action}</code>
                </th>
                <td>{a.count}</td>
                <td>{a.distinctUsers}</td>
                <td>{a.distinctIps}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    >
      {top.length === 0 ? (
        <p className="chart-empty">Nothing to chart.</p>
      ) : (
        <div className="chart-box" data-testid="chart-top-actions">
          <ResponsiveContainer width="100%" height={Math.max(160, top.length * 30 + 40)}>
            <BarChart data={top} layout="vertical" margin={{ top: 4, right: 24, bottom: 4, left: 8 }}>
              <CartesianGrid strokeDasharray="3 3" horizontal={false} />
              <XAxis type="number" allowDecimals={false} />
              <YAxis type="category" dataKey="action" width={190} tick={{ fontSize: 12 }} interval={0} />
              <Tooltip />
              <Bar dataKey="count" name="Events" fill="#0b6bcb" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </div>
      )}
    </ChartFigure>
  );
}

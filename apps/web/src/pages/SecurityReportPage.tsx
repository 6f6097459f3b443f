import { keepPreviousData } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ErrorAlert } from '../components/Alert.tsx';
import { Loading } from '../components/Loading.tsx';
import { EventsPerDayChart, TopActionsChart } from '../components/security/ReportCharts.tsx';
import { ReportTables } from '../components/security/ReportTables.tsx';
import { formatDateTime } from '../lib/format.ts';
import { lastDays, reportRange, type RangeErrors } from '../lib/report-range.ts';
import { trpc } from '../trpc.ts';
import './security-report.css';

const PRESETS = [7, 30, 90] as const;

function initialRange(): { from: string; to: string } {
  const result = reportRange(lastDays(7));
  if (!result.ok) throw new Error('the default report range is invalid');
  return result.range;
}

export default function SecurityReportPage() {
  // The range the report shows (instants), and the two days the form holds (both included).
  const [range, setRange] = useState(initialRange);
  const [days, setDays] = useState(() => lastDays(7));
  const [errors, setErrors] = useState<RangeErrors>({});
  const ids = { from: useId(), to: useId() };

  const report = trpc.security.report.useQuery(range, {
    // Keep the last report on screen while the next range loads; computing it is audited, so
    // do not recompute it on every window focus.
    placeholderData: keepPreviousData,
    refetchOnWindowFocus: false,
    staleTime: 60_000,
  });

  function show(next: { from: string; to: string }) {
    const result = reportRange(next);
    if (!result.ok) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    setRange(result.range);
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    show(days);
  }

  const data = report.data;
  return (
    <section className="page security-page">
      <div className="page-head">
        <div>
          <h1>Security report</h1>
          <p className="lead">
            What the audit log says about a period: failed sign-ins, lock-outs, stolen refresh tokens, destructive actions
            and rate limiting. The details are in the <Link to="/audit">audit log</Link>.
          </p>
        </div>
      </div>

      <form className="card report-range" aria-label="Report period" noValidate onSubmit={submit}>
        <div className="field">
          <label htmlFor={ids.from}>From</label>
          <input
            id={ids.from}
            type="date"
            value={days.from}
            aria-invalid={!!errors.from}
            aria-describedby={errors.from ? `${ids.from}-error` : undefined}
            onChange={(e) => setDays((d) => ({ ...d, from: e.target.value }))}
          />
          {errors.from && (
            <p className="field-error" id={`${ids.from}-error`}>
              {errors.from}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor={ids.to}>To (included)</label>
          <input
            id={ids.to}
            type="date"
            value={days.to}
            aria-invalid={!!errors.to}
            aria-describedby={errors.to ? `${ids.to}-error` : undefined}
            onChange={(e) => setDays((d) => ({ ...d, to: e.target.value }))}
          />
          {errors.to && (
            <p className="field-error" id={`${ids.to}-error`}>
              {errors.to}
            </p>
          )}
        </div>
        <button type="submit" className="btn btn-primary">
          Show report
        </button>
        <div className="button-row report-presets" role="group" aria-label="Quick ranges">
          {PRESETS.map((n) => (
            <button
              key={n}
              type="button"
              className="btn btn-ghost btn-small"
              onClick={() => {
                const next = lastDays(n);
                setDays(next);
                show(next);
              }}
            >
              Last {n} days
            </button>
          ))}
        </div>
      </form>

      {report.isPending && <Loading label="Computing the report…" />}
      {report.error && <ErrorAlert error={report.error} />}
      {data && (
        <div className={report.isPlaceholderData ? 'report report-stale' : 'report'} aria-busy={report.isFetching}>
          <p className="muted report-period" role="status">
            {report.isFetching ? 'Updating… ' : ''}
            Showing {formatDateTime(data.from)} to {formatDateTime(data.to)}.
          </p>
          <div className="report-charts">
            <EventsPerDayChart report={data} />
            <TopActionsChart report={data} />
          </div>
          <ReportTables report={data} />
        </div>
      )}
    </section>
  );
}

import type { AuditFilter } from '@tapevision/api/schemas';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert } from '../Alert.tsx';

/**
 * Walks the hash chains on the server (within the filters' time range, if one is set) and shows
 * whether any row was changed, deleted or reordered since it was written.
 */
export function VerifyIntegrity({ range }: { range: Pick<AuditFilter, 'from' | 'to'> }) {
  const verify = trpc.audit.verify.useMutation();
  const scoped = range.from !== undefined || range.to !== undefined;
  const report = verify.data;

  return (
    <div className="audit-verify" role="group" aria-label="Integrity">
      <button
        type="button"
        className="btn btn-secondary"
        disabled={verify.isPending}
        onClick={() => verify.mutate({ ...(range.from ? { from: range.from } : {}), ...(range.to ? { to: range.to } : {}) })}
      >
        {verify.isPending ? 'Verifying…' : 'Verify integrity'}
      </button>
      <div aria-live="polite">
        {verify.error && <ErrorAlert>Verification failed: {verify.error.message}</ErrorAlert>}
        {report?.ok && (
          <div className="alert alert-success verify-result" role="status" data-verify-ok="true">
            <strong>Integrity OK.</strong> {report.rowsChecked.toLocaleString()} {report.rowsChecked === 1 ? 'entry' : 'entries'} in{' '}
            {report.chains} {report.chains === 1 ? 'chain' : 'chains'} checked{scoped ? ' in the selected time range' : ''}; no row was
            changed, deleted or reordered.
          </div>
        )}
        {report && !report.ok && (
          <div className="alert alert-error verify-result" role="alert" data-verify-ok="false">
            <strong>Integrity check FAILED.</strong> {report.breaks.length} broken {report.breaks.length === 1 ? 'chain' : 'chains'} after
            checking {report.rowsChecked.toLocaleString()} entries.
            {report.firstBreak && (
              <p>
                First break: {report.firstBreak.message}
                {report.firstBreak.at && <> at {formatDateTimeSeconds(report.firstBreak.at)}</>}
                {report.firstBreak.rowId && (
                  <>
                    {' '}
                    (entry <code>{report.firstBreak.rowId}</code>)
                  </>
                )}
                .
              </p>
            )}
            {report.breaks.length > 1 && (
              <ul>
                {report.breaks.map((b, i) => (
                  <li key={`${b.chainId}-${i}`}>
                    Chain <code>{b.chainId}</code>: {b.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
      </div>
    </div>
  );
}

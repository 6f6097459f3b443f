import type { AuditEntry } from '@tapevision/api/schemas';
import { useEffect, useRef, type ReactNode } from 'react';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { outcomeClass, severityClass } from './AuditTable.tsx';

function Value({ children }: { children: ReactNode }) {
  return <dd>{children === null || children === undefined || children === '' ? <span className="muted">—</span> : children}</dd>;
}

/** Every field of one entry, its details as indented JSON, and where it sits in its hash chain. */
export function AuditEntryDetail({ entry, onClose }: { entry: AuditEntry; onClose: () => void }) {
  const headingRef = useRef<HTMLHeadingElement>(null);

  // Focus follows the open panel (screen readers hear which entry it is); Escape closes it.
  useEffect(() => {
    headingRef.current?.focus();
  }, [entry.id]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  return (
    <aside className="audit-detail card" role="region" aria-label="Audit entry details" data-audit-id={entry.id}>
      <div className="audit-detail-head">
        <h2 ref={headingRef} tabIndex={-1}>
          <code>{entry.action}</code>
        </h2>
        <button type="button" className="btn btn-ghost btn-small" onClick={onClose}>
          Close details
        </button>
      </div>
      <dl className="audit-fields">
        <dt>Time</dt>
        <Value>
          <time dateTime={entry.at}>{formatDateTimeSeconds(entry.at)}</time>
          <div className="mono muted">{entry.at}</div>
        </Value>
        <dt>Outcome</dt>
        <Value>
          <span className={outcomeClass(entry.outcome)}>{entry.outcome}</span>
        </Value>
        <dt>Severity</dt>
        <Value>
          <span className={severityClass(entry.severity)}>{entry.severity}</span>
        </Value>
        <dt>Actor type</dt>
        <Value>{entry.actorType}</Value>
        <dt>Actor</dt>
        <Value>{entry.actorName}</Value>
        <dt>Actor ID</dt>
        <Value>{entry.actorId && <span className="mono">{entry.actorId}</span>}</Value>
        <dt>Resource type</dt>
        <Value>{entry.resourceType}</Value>
        <dt>Resource</dt>
        <Value>{entry.resourceName}</Value>
        <dt>Resource ID</dt>
        <Value>{entry.resourceId && <span className="mono">{entry.resourceId}</span>}</Value>
        <dt>IP address</dt>
        <Value>{entry.ip}</Value>
        <dt>User agent</dt>
        <Value>{entry.userAgent}</Value>
        <dt>Request ID</dt>
        <Value>{entry.requestId && <span className="mono">{entry.requestId}</span>}</Value>
        <dt>Entry ID</dt>
        <Value>
          <span className="mono">{entry.id}</span>
        </Value>
      </dl>

      <h3>Details</h3>
      <pre className="audit-json" aria-label="Details (JSON)" tabIndex={0}>
        {JSON.stringify(entry.details, null, 2)}
      </pre>

      <h3>Hash chain</h3>
      <dl className="audit-fields">
        <dt>Chain ID</dt>
        <Value>
          <span className="mono">{entry.chainId}</span>
        </Value>
        <dt>Sequence</dt>
        <Value>
          <span className="mono">{entry.seq}</span>
        </Value>
        <dt>Hash</dt>
        <Value>
          <span className="mono hash">{entry.hash}</span>
        </Value>
        <dt>Previous hash</dt>
        <Value>
          <span className="mono hash">{entry.prevHash}</span>
        </Value>
      </dl>
    </aside>
  );
}

const SEVERITY_CLASS: Record<string, string> = { LOW: 'badge-muted', MEDIUM: 'badge-warning', HIGH: 'badge-danger', CRITICAL: 'badge-danger' };

export function SeverityBadge({ severity }: { severity: string }) {
  return <span className={`badge ${SEVERITY_CLASS[severity] ?? 'badge-muted'}`}>{severity}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge ${status === 'closed' || status === 'resolved' ? 'badge-ok' : 'badge-muted'}`} data-status={status}>{status}</span>;
}

import { zodResolver } from '@hookform/resolvers/zod';
import { incidentCloseInput, incidentNoteInput, STATUS_ORDER } from '@tapevision/api/schemas/incidents';
import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert } from '../Alert.tsx';
import { SeverityBadge, StatusBadge } from './IncidentBadges.tsx';
import { IncidentReportView } from './IncidentReport.tsx';

// The same rules the server applies, without the id (the form is for one incident).
const noteSchema = incidentNoteInput.pick({ note: true });
const closeSchema = incidentCloseInput.pick({ resolution: true });
const FORWARD = ['investigating', 'contained', 'resolved'] as const;

/** One incident: affected people and keys, the timeline, and the officer's controls. */
export function IncidentDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const utils = trpc.useUtils();
  const detail = trpc.incidents.get.useQuery({ id });
  const admins = trpc.users.list.useQuery({ limit: 200 }, { staleTime: 60_000 });
  const [showReport, setShowReport] = useState(false);
  const refresh = () => {
    void utils.incidents.get.invalidate({ id });
    void utils.incidents.list.invalidate();
  };
  const update = trpc.incidents.update.useMutation({ onSuccess: refresh });
  const addNote = trpc.incidents.addNote.useMutation({ onSuccess: refresh });
  const close = trpc.incidents.close.useMutation({ onSuccess: refresh });
  const noteForm = useForm({ resolver: zodResolver(noteSchema), defaultValues: { note: '' } });
  const closeForm = useForm({ resolver: zodResolver(closeSchema), defaultValues: { resolution: '' } });

  if (detail.error) return <ErrorAlert error={detail.error} />;
  if (!detail.data) return <p className="muted">Loading incident…</p>;
  const { incident, timeline, affected, assignee } = detail.data;
  const closed = incident.status === 'closed';
  const rank = STATUS_ORDER.indexOf(incident.status);
  const next = FORWARD.filter((s) => STATUS_ORDER.indexOf(s) > rank);
  const adminUsers = (admins.data?.items ?? []).filter((u) => u.role === 'admin' && u.status === 'active');

  return (
    <article className="card incident-detail" aria-label={`Incident ${incident.title}`} data-incident-detail={incident.id}>
      <div className="card-head">
        <h3>{incident.title}</h3>
        <button type="button" className="button button-secondary" onClick={onClose}>
          Close detail
        </button>
      </div>
      <p>
        <SeverityBadge severity={incident.severity} /> <StatusBadge status={incident.status} /> <span className="muted">{incident.summary}</span>
      </p>
      <dl className="incident-facts">
        <div>
          <dt>Detected</dt>
          <dd>{formatDateTimeSeconds(incident.detectedAt)}</dd>
        </div>
        <div>
          <dt>Addresses</dt>
          <dd>{affected.ips.join(', ') || '—'}</dd>
        </div>
        <div>
          <dt>Accounts</dt>
          <dd>{affected.users.map((u) => u.email ?? u.id).join(', ') || '—'}</dd>
        </div>
        <div>
          <dt>API keys</dt>
          <dd>{affected.apiKeys.map((k) => k.name ?? k.id).join(', ') || '—'}</dd>
        </div>
        <div>
          <dt>Assignee</dt>
          <dd data-assignee>{assignee?.email ?? 'Unassigned'}</dd>
        </div>
        {incident.resolution && (
          <div>
            <dt>Resolution</dt>
            <dd data-resolution>{incident.resolution}</dd>
          </div>
        )}
      </dl>

      {!closed && (
        <div className="incident-controls">
          {next.map((s) => (
            <button key={s} type="button" className="button" disabled={update.isPending} onClick={() => update.mutate({ id, status: s })}>
              Move to {s}
            </button>
          ))}
          <label>
            Assign to
            <select
              aria-label="Assignee"
              value={incident.assigneeId ?? ''}
              disabled={update.isPending}
              onChange={(e) => update.mutate({ id, assignee: e.target.value || null })}
            >
              <option value="">Unassigned</option>
              {adminUsers.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.email}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
      {update.error && <ErrorAlert error={update.error} />}

      <h4>Timeline</h4>
      <ol className="incident-timeline" aria-label="Timeline">
        {timeline.map((t) => (
          <li key={t.id} data-kind={t.kind}>
            <span className="muted">{formatDateTimeSeconds(t.at)}</span> <strong>{t.kind}</strong> <span>{t.message}</span>{' '}
            <span className="muted">— {t.actorType === 'user' ? (t.actorEmail ?? t.actorId) : 'system'}</span>
          </li>
        ))}
      </ol>

      <form
        className="form-inline"
        onSubmit={noteForm.handleSubmit((values) => addNote.mutate({ id, note: values.note }, { onSuccess: () => noteForm.reset() }))}
      >
        <label>
          Note
          <textarea aria-label="Note" {...noteForm.register('note')} rows={2} />
        </label>
        {noteForm.formState.errors.note && <span className="field-error">{noteForm.formState.errors.note.message}</span>}
        <button type="submit" className="button" disabled={addNote.isPending}>
          Add note
        </button>
        {addNote.error && <ErrorAlert error={addNote.error} />}
      </form>

      {!closed && (
        <form className="form-inline" onSubmit={closeForm.handleSubmit((values) => close.mutate({ id, resolution: values.resolution }))}>
          <label>
            Resolution
            <textarea aria-label="Resolution" {...closeForm.register('resolution')} rows={2} />
          </label>
          {closeForm.formState.errors.resolution && <span className="field-error">{closeForm.formState.errors.resolution.message}</span>}
          <button type="submit" className="button button-danger" disabled={close.isPending}>
            Close incident
          </button>
          {close.error && <ErrorAlert error={close.error} />}
        </form>
      )}

      <button type="button" className="button button-secondary" onClick={() => setShowReport((v) => !v)}>
        {showReport ? 'Hide report' : 'Report'}
      </button>
      {showReport && <IncidentReportView id={id} />}
    </article>
  );
}

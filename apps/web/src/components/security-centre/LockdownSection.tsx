import { useState } from 'react';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert, Notice } from '../Alert.tsx';
import { ConfirmButton } from '../ConfirmButton.tsx';

/** Engage or lift the emergency lockdown, each with a reason (both are audited CRITICAL). */
export function LockdownSection() {
  const utils = trpc.useUtils();
  const status = trpc.security.status.useQuery();
  const [reason, setReason] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const onSettled = () => void utils.security.status.invalidate();
  const engage = trpc.security.lockdown.useMutation({ onSettled });
  const lift = trpc.security.lift.useMutation({ onSettled });
  const active = status.data?.active ?? false;
  const trimmed = reason.trim();

  async function run() {
    setDone(null);
    if (active) {
      const r = await lift.mutateAsync({ reason: trimmed });
      setDone(`Lockdown lifted; ${r.apiKeysRestored} API key(s) restored.`);
    } else {
      const r = await engage.mutateAsync({ reason: trimmed });
      setDone(`Lockdown engaged: ${r.sessionsEnded} session(s) ended, ${r.apiKeysSuspended} API key(s) suspended, ${r.botsStopped} bot(s) stopped.`);
    }
    setReason('');
  }

  const error = engage.error ?? lift.error ?? status.error;
  return (
    <section className="card" aria-labelledby="lockdown-title">
      <div className="card-head">
        <h2 id="lockdown-title">Emergency lockdown</h2>
        <span className={`badge ${active ? 'badge-danger' : 'badge-muted'}`} data-lockdown-state={active ? 'active' : 'none'}>
          {active ? 'Locked down' : 'Not engaged'}
        </span>
      </div>
      {active && status.data?.lockdown && (
        <p>
          Since {formatDateTimeSeconds(status.data.lockdown.engagedAt)}, by {status.data.lockdown.engagedBy?.email ?? 'the system'}: {status.data.lockdown.reason}
        </p>
      )}
      {!active && (
        <p className="muted">
          Refuses new orders on every server, ends every non-admin session and refuses their sign-in, suspends every API key and stops every bot.
          Admins can still close positions.
        </p>
      )}
      {error && <ErrorAlert error={error} />}
      {done && <Notice kind="success">{done}</Notice>}
      <label className="field">
        {active ? 'Why lift it' : 'Why lock down'}
        <textarea aria-label={active ? 'Lift reason' : 'Lockdown reason'} value={reason} maxLength={1000} rows={2} onChange={(e) => setReason(e.target.value)} />
      </label>
      <ConfirmButton
        question={active ? 'Lift the lockdown for everyone?' : 'Lock the whole platform down now?'}
        confirmLabel={active ? 'Lift' : 'Engage'}
        disabled={trimmed.length === 0 || engage.isPending || lift.isPending || status.isPending}
        onConfirm={() => void run().catch(() => undefined)}
      >
        {active ? 'Lift lockdown' : 'Engage lockdown'}
      </ConfirmButton>
    </section>
  );
}

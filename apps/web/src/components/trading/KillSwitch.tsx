import { useState } from 'react';
import { trpc } from '../../trpc.ts';
import { ErrorAlert, Notice } from '../Alert.tsx';
import { ConfirmButton } from '../ConfirmButton.tsx';

/**
 * Cancel every working order and flatten every position: one's own account, or with
 * security.manage every account. Each asks first; both work during a stop and a lockdown.
 */
export function KillSwitch({ everyAccount, canCancel, canFlatten }: { everyAccount: boolean; canCancel: boolean; canFlatten: boolean }) {
  const cancelAll = trpc.trading.cancelAll.useMutation();
  const flattenAll = trpc.positions.flattenAll.useMutation();
  const [done, setDone] = useState<string | null>(null);
  const whose = everyAccount ? 'every account' : 'your account';

  async function kill() {
    setDone(null);
    const cancelled = canCancel ? (await cancelAll.mutateAsync()).cancelled : 0;
    const flat = canFlatten ? await flattenAll.mutateAsync() : null;
    const refused = flat?.refused.length ? `; ${flat.refused.length} position(s) could not be closed now` : '';
    setDone(`${cancelled} order(s) cancelled, ${flat?.flattened ?? 0} position(s) flattened${refused}.`);
  }

  const error = cancelAll.error ?? flattenAll.error;
  return (
    <section className="card dash-card kill-switch" aria-labelledby="kill-title">
      <h2 id="kill-title">Kill switch</h2>
      <p className="muted">Cancels every working order and closes every open position of {whose} at market, reduce-only.</p>
      {error && <ErrorAlert error={error} />}
      {done && <Notice kind="success">{done}</Notice>}
      <ConfirmButton
        question={`Cancel all and flatten ${whose}?`}
        confirmLabel="Cancel all and flatten"
        disabled={cancelAll.isPending || flattenAll.isPending}
        onConfirm={() => void kill().catch(() => undefined)}
      >
        Cancel all + flatten all
      </ConfirmButton>
    </section>
  );
}

import { useState } from 'react';
import { ErrorAlert, Notice } from '../components/Alert.tsx';
import { Loading } from '../components/Loading.tsx';
import { SessionTable } from '../components/SessionTable.tsx';
import { errorMessage } from '../lib/errors.ts';
import { trpc } from '../trpc.ts';

export function SessionsPage() {
  const utils = trpc.useUtils();
  const sessions = trpc.sessions.list.useQuery();
  const revoke = trpc.sessions.revoke.useMutation({ onSettled: () => utils.sessions.list.invalidate() });
  const revokeOthers = trpc.sessions.revokeOthers.useMutation({ onSettled: () => utils.sessions.list.invalidate() });
  const [message, setMessage] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);

  const others = sessions.data?.filter((s) => !s.current).length ?? 0;

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>My sessions</h1>
          <p className="lead">Where your account is signed in. Revoke anything you do not recognise.</p>
        </div>
        <button
          type="button"
          className="btn btn-secondary"
          disabled={others === 0 || revokeOthers.isPending}
          onClick={async () => {
            setMessage(null);
            try {
              const { revoked } = await revokeOthers.mutateAsync();
              setMessage({ kind: 'success', text: `Signed out ${revoked} other session${revoked === 1 ? '' : 's'}.` });
            } catch (err) {
              setMessage({ kind: 'error', text: errorMessage(err) });
            }
          }}
        >
          Sign out everywhere else
        </button>
      </div>

      {message?.kind === 'success' && <Notice kind="success">{message.text}</Notice>}
      {message?.kind === 'error' && <ErrorAlert>{message.text}</ErrorAlert>}

      <div className="card">
        {sessions.isPending && <Loading label="Loading sessions…" />}
        {sessions.error && <ErrorAlert error={sessions.error} />}
        {sessions.data && (
          <SessionTable
            caption="Your active sessions"
            sessions={sessions.data}
            revokingId={revoke.isPending ? (revoke.variables?.sessionId ?? null) : null}
            onRevoke={async (session) => {
              setMessage(null);
              try {
                await revoke.mutateAsync({ sessionId: session.id });
                setMessage({ kind: 'success', text: 'Session revoked. That device is signed out.' });
              } catch (err) {
                setMessage({ kind: 'error', text: errorMessage(err) });
              }
            }}
          />
        )}
      </div>
    </section>
  );
}

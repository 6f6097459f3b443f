import { ROLES } from '@tapevision/api/schemas';
import { useId, useState } from 'react';
import { errorMessage } from '../lib/errors.ts';
import { isInFuture } from '../lib/format.ts';
import { trpc } from '../trpc.ts';
import type { Role, User } from '../types.ts';
import { ErrorAlert, Notice } from './Alert.tsx';
import { ConfirmButton } from './ConfirmButton.tsx';
import { Loading } from './Loading.tsx';
import { OneTimePassword } from './OneTimePassword.tsx';
import { SessionTable } from './SessionTable.tsx';

type Message = { kind: 'success' | 'error'; text: string } | null;

/** Everything an admin can do to one user: role, status, lock, password, sessions. */
export function UserManagePanel({ user, isSelf }: { user: User; isSelf: boolean }) {
  const utils = trpc.useUtils();
  const [message, setMessage] = useState<Message>(null);
  const [role, setRole] = useState<Role>(user.role);
  const [showSessions, setShowSessions] = useState(false);
  const [oneTimePassword, setOneTimePassword] = useState<string | null>(null);
  const roleId = useId();

  const refresh = () => {
    void utils.users.list.invalidate();
    void utils.users.sessions.invalidate({ id: user.id });
  };
  const update = trpc.users.update.useMutation({ onSettled: refresh });
  const unlock = trpc.users.unlock.useMutation({ onSettled: refresh });
  const reset = trpc.users.resetPassword.useMutation({ onSettled: refresh });
  const revokeAll = trpc.users.revokeSessions.useMutation({ onSettled: refresh });
  const sessions = trpc.users.sessions.useQuery({ id: user.id }, { enabled: showSessions });
  const busy = update.isPending || unlock.isPending || reset.isPending || revokeAll.isPending;

  async function run(action: () => Promise<string>) {
    setMessage(null);
    try {
      setMessage({ kind: 'success', text: await action() });
    } catch (err) {
      setMessage({ kind: 'error', text: errorMessage(err) });
    }
  }

  const locked = isInFuture(user.lockedUntil);
  const selfNote = isSelf ? ' This is your own account: it signs you out.' : '';

  return (
    <div className="manage" aria-label={`Manage ${user.email}`} role="region">
      {message?.kind === 'success' && <Notice kind="success">{message.text}</Notice>}
      {message?.kind === 'error' && <ErrorAlert>{message.text}</ErrorAlert>}
      {oneTimePassword && (
        <OneTimePassword email={user.email} password={oneTimePassword} onDone={() => setOneTimePassword(null)} />
      )}

      <div className="manage-grid">
        <div className="manage-block">
          <h3>Role</h3>
          <div className="inline-form">
            <label htmlFor={roleId} className="sr-only">
              Role for {user.email}
            </label>
            <select id={roleId} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
            <button
              type="button"
              className="btn btn-secondary"
              disabled={busy || role === user.role}
              onClick={() =>
                run(async () => {
                  const after = await update.mutateAsync({ id: user.id, role });
                  return `${after.email} is now ${after.role}. Their sessions were ended.`;
                })
              }
            >
              Change role
            </button>
          </div>
          <p className="hint">Changing the role signs the user out everywhere.{selfNote}</p>
        </div>

        <div className="manage-block">
          <h3>Access</h3>
          <div className="button-row">
            {user.status === 'active' ? (
              <ConfirmButton
                question={`Disable ${user.email}?`}
                confirmLabel="Yes, disable"
                disabled={busy}
                onConfirm={() =>
                  run(async () => {
                    await update.mutateAsync({ id: user.id, status: 'disabled' });
                    return `${user.email} is disabled and signed out.`;
                  })
                }
              >
                Disable user
              </ConfirmButton>
            ) : (
              <button
                type="button"
                className="btn btn-secondary"
                disabled={busy}
                onClick={() =>
                  run(async () => {
                    await update.mutateAsync({ id: user.id, status: 'active' });
                    return `${user.email} is enabled.`;
                  })
                }
              >
                Enable user
              </button>
            )}
            <button
              type="button"
              className="btn btn-secondary"
              disabled={busy || !locked}
              title={locked ? undefined : 'The account is not locked'}
              onClick={() =>
                run(async () => {
                  await unlock.mutateAsync({ id: user.id });
                  return `${user.email} is unlocked.`;
                })
              }
            >
              Unlock
            </button>
          </div>
        </div>

        <div className="manage-block">
          <h3>Password</h3>
          <ConfirmButton
            question={`Reset the password of ${user.email}?`}
            confirmLabel="Yes, reset password"
            disabled={busy}
            onConfirm={() =>
              run(async () => {
                const result = await reset.mutateAsync({ id: user.id });
                reset.reset();
                setOneTimePassword(result.oneTimePassword);
                return `Password reset. ${user.email} is signed out and must choose a new password.`;
              })
            }
          >
            Reset password
          </ConfirmButton>
          <p className="hint">Generates a one-time password and ends all of the user's sessions.{selfNote}</p>
        </div>

        <div className="manage-block">
          <h3>Sessions</h3>
          <div className="button-row">
            <button
              type="button"
              className="btn btn-secondary"
              aria-expanded={showSessions}
              onClick={() => setShowSessions((v) => !v)}
            >
              {showSessions ? 'Hide sessions' : 'View sessions'}
            </button>
            <ConfirmButton
              question={`End every session of ${user.email}?`}
              confirmLabel="Yes, revoke all"
              disabled={busy}
              onConfirm={() =>
                run(async () => {
                  const { revoked } = await revokeAll.mutateAsync({ id: user.id });
                  return `Ended ${revoked} session${revoked === 1 ? '' : 's'} of ${user.email}.`;
                })
              }
            >
              Revoke all sessions
            </ConfirmButton>
          </div>
        </div>
      </div>

      {showSessions && (
        <div className="manage-sessions">
          {sessions.isPending && <Loading label="Loading sessions…" />}
          {sessions.error && <ErrorAlert error={sessions.error} />}
          {sessions.data && <SessionTable caption={`Sessions of ${user.email}`} sessions={sessions.data} />}
        </div>
      )}
    </div>
  );
}

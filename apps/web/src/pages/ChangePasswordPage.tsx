import { assessPassword, changePasswordInput } from '@tapevision/api/schemas';
import { useId, useRef, useState, type FormEvent } from 'react';
import { updateUser } from '../auth/session.ts';
import { useSignedIn } from '../auth/use-auth.ts';
import { ErrorAlert } from '../components/Alert.tsx';
import { Brand } from '../components/Brand.tsx';
import { PasswordStrength } from '../components/PasswordStrength.tsx';
import { SignOutButton } from '../components/SignOutButton.tsx';
import { errorFeedback, errorIssues, errorMessage, errorReason, issuesByField } from '../lib/errors.ts';
import { trpc } from '../trpc.ts';

type Field = 'currentPassword' | 'newPassword' | 'confirm';
type Errors = Partial<Record<Field | '_form', string>>;

const FIELD_FOR_REASON: Record<string, Field> = {
  INVALID_CURRENT_PASSWORD: 'currentPassword',
  WEAK_PASSWORD: 'newPassword',
  PASSWORD_UNCHANGED: 'newPassword',
};

/** Shown instead of the app while the server requires a new password (first sign-in, reset). */
export default function ChangePasswordPage() {
  const { user } = useSignedIn();
  const utils = trpc.useUtils();
  const change = trpc.auth.changePassword.useMutation();
  const [currentPassword, setCurrentPassword] = useState('');
  const [newPassword, setNewPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [serverFeedback, setServerFeedback] = useState<{ warning: string | null; suggestions: string[] } | null>(null);
  const ids = { current: useId(), next: useId(), confirm: useId(), strength: useId() };
  const refs = {
    currentPassword: useRef<HTMLInputElement>(null),
    newPassword: useRef<HTMLInputElement>(null),
    confirm: useRef<HTMLInputElement>(null),
  };

  function show(next: Errors) {
    setErrors(next);
    const first = (['currentPassword', 'newPassword', 'confirm'] as const).find((f) => next[f]);
    if (first) refs[first].current?.focus();
  }

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setServerFeedback(null);
    // The same schema the server validates with, plus the rule that needs the email.
    const parsed = changePasswordInput.safeParse({ currentPassword, newPassword });
    const found: Errors = parsed.success ? {} : (issuesByField(parsed.error.issues) as Errors);
    if (!found.newPassword) {
      const verdict = assessPassword(newPassword, user.email);
      if (!verdict.ok) found.newPassword = verdict.message ?? 'Choose a stronger password';
    }
    if (!found.newPassword && newPassword !== confirm) found.confirm = 'The two new passwords do not match';
    if (!parsed.success || Object.keys(found).length > 0) {
      show(found);
      return;
    }
    setErrors({});
    try {
      await change.mutateAsync(parsed.data);
      const me = await utils.auth.me.fetch();
      updateUser(me.user);
    } catch (err) {
      const byField = issuesByField(errorIssues(err)) as Errors;
      const reason = errorReason(err);
      const field = reason ? FIELD_FOR_REASON[reason] : undefined;
      if (field) byField[field] = errorMessage(err);
      else if (Object.keys(byField).length === 0) byField._form = errorMessage(err);
      setServerFeedback(errorFeedback(err));
      show(byField);
    }
  }

  const errorIds: Record<Field, string> = {
    currentPassword: `${ids.current}-error`,
    newPassword: `${ids.next}-error`,
    confirm: `${ids.confirm}-error`,
  };
  const describedBy = (field: Field, extra?: string) =>
    [errors[field] ? errorIds[field] : null, extra].filter(Boolean).join(' ') || undefined;

  return (
    <div className="auth-screen">
      <header className="auth-top">
        <Brand />
        <span className="account-email">{user.email}</span>
        <SignOutButton />
      </header>
      <div className="auth-card auth-card-wide">
        <h1>Choose a new password</h1>
        <p className="lead">
          Before you continue, replace the password you were given with one only you know. It must be at least 12
          characters and hard to guess; your other sessions will be signed out.
        </p>
        {errors._form && <ErrorAlert>{errors._form}</ErrorAlert>}
        <form onSubmit={submit} noValidate className="form">
          <div className="field">
            <label htmlFor={ids.current}>Current password</label>
            <input
              ref={refs.currentPassword}
              id={ids.current}
              type="password"
              autoComplete="current-password"
              value={currentPassword}
              aria-invalid={!!errors.currentPassword}
              aria-describedby={describedBy('currentPassword')}
              onChange={(e) => setCurrentPassword(e.target.value)}
            />
            {errors.currentPassword && (
              <p className="field-error" id={errorIds.currentPassword}>
                {errors.currentPassword}
              </p>
            )}
          </div>
          <div className="field">
            <label htmlFor={ids.next}>New password</label>
            <input
              ref={refs.newPassword}
              id={ids.next}
              type="password"
              autoComplete="new-password"
              value={newPassword}
              aria-invalid={!!errors.newPassword}
              aria-describedby={describedBy('newPassword', ids.strength)}
              onChange={(e) => setNewPassword(e.target.value)}
            />
            {errors.newPassword && (
              <p className="field-error" id={errorIds.newPassword} role="alert">
                {errors.newPassword}
              </p>
            )}
            {serverFeedback && (serverFeedback.warning || serverFeedback.suggestions.length > 0) && (
              <div className="strength-server">
                {serverFeedback.warning && <p className="strength-warning">{serverFeedback.warning}</p>}
                <ul className="strength-suggestions">
                  {serverFeedback.suggestions.map((s) => (
                    <li key={s}>{s}</li>
                  ))}
                </ul>
              </div>
            )}
            <PasswordStrength id={ids.strength} password={newPassword} email={user.email} />
          </div>
          <div className="field">
            <label htmlFor={ids.confirm}>Confirm new password</label>
            <input
              ref={refs.confirm}
              id={ids.confirm}
              type="password"
              autoComplete="new-password"
              value={confirm}
              aria-invalid={!!errors.confirm}
              aria-describedby={describedBy('confirm')}
              onChange={(e) => setConfirm(e.target.value)}
            />
            {errors.confirm && (
              <p className="field-error" id={errorIds.confirm}>
                {errors.confirm}
              </p>
            )}
          </div>
          <button type="submit" className="btn btn-primary btn-block" disabled={change.isPending}>
            {change.isPending ? 'Saving…' : 'Change password'}
          </button>
        </form>
      </div>
    </div>
  );
}

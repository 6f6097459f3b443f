import { assessPassword, createUserInput, ROLES } from '@tapevision/api/schemas';
import { useId, useState, type FormEvent } from 'react';
import { errorIssues, errorMessage, issuesByField } from '../lib/errors.ts';
import { trpc } from '../trpc.ts';
import type { Role, User } from '../types.ts';
import { ErrorAlert } from './Alert.tsx';

type Errors = Partial<Record<'email' | 'role' | 'password' | '_form', string>>;

export interface CreatedUser {
  user: User;
  oneTimePassword: string | null;
}

export function CreateUserForm({ onCreated }: { onCreated: (created: CreatedUser) => void }) {
  const utils = trpc.useUtils();
  const create = trpc.users.create.useMutation();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [mustChange, setMustChange] = useState(true);
  const [errors, setErrors] = useState<Errors>({});
  const ids = { email: useId(), role: useId(), password: useId(), must: useId(), hint: useId() };

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const candidate = {
      email,
      role,
      ...(password ? { password } : {}),
      // A generated password is always one-time; the box only matters for a password set here.
      mustChangePassword: password ? mustChange : true,
    };
    // The same schema the server validates with, plus the rule that needs the email.
    const parsed = createUserInput.safeParse(candidate);
    const found: Errors = parsed.success ? {} : (issuesByField(parsed.error.issues) as Errors);
    if (password && !found.password && !found.email) {
      const verdict = assessPassword(password, email.trim().toLowerCase());
      if (!verdict.ok) found.password = verdict.message ?? 'Choose a stronger password';
    }
    if (!parsed.success || Object.keys(found).length > 0) {
      setErrors(found);
      return;
    }
    setErrors({});
    try {
      const result = await create.mutateAsync(parsed.data);
      // Keep the one-time password out of the mutation cache: the parent shows it once.
      create.reset();
      setEmail('');
      setPassword('');
      setMustChange(true);
      void utils.users.list.invalidate();
      onCreated(result);
    } catch (err) {
      const byField = issuesByField(errorIssues(err)) as Errors;
      if (Object.keys(byField).length === 0) byField._form = errorMessage(err);
      else if (!byField.email && !byField.password && !byField.role) byField._form = errorMessage(err);
      setErrors(byField);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="form form-grid" aria-label="Create a user">
      {errors._form && <ErrorAlert>{errors._form}</ErrorAlert>}
      <div className="field">
        <label htmlFor={ids.email}>Email</label>
        <input
          id={ids.email}
          type="email"
          autoComplete="off"
          value={email}
          aria-invalid={!!errors.email}
          aria-describedby={errors.email ? `${ids.email}-error` : undefined}
          onChange={(e) => setEmail(e.target.value)}
        />
        {errors.email && (
          <p className="field-error" id={`${ids.email}-error`}>
            {errors.email}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor={ids.role}>Role</label>
        <select id={ids.role} value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={ids.password}>Password (optional)</label>
        <input
          id={ids.password}
          type="password"
          autoComplete="new-password"
          value={password}
          aria-invalid={!!errors.password}
          aria-describedby={[errors.password ? `${ids.password}-error` : null, ids.hint].filter(Boolean).join(' ')}
          onChange={(e) => setPassword(e.target.value)}
        />
        {errors.password && (
          <p className="field-error" id={`${ids.password}-error`}>
            {errors.password}
          </p>
        )}
        <p className="hint" id={ids.hint}>
          Leave empty to generate a one-time password, shown once.
        </p>
      </div>
      <div className="field field-check">
        <input
          id={ids.must}
          type="checkbox"
          checked={password ? mustChange : true}
          disabled={!password}
          onChange={(e) => setMustChange(e.target.checked)}
        />
        <label htmlFor={ids.must}>Must change password at first sign-in</label>
      </div>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create user'}
        </button>
      </div>
    </form>
  );
}

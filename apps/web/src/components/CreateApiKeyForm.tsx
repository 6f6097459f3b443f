import { createApiKeyInput, type Permission } from '@tapevision/api/schemas';
import { useId, useState, type FormEvent } from 'react';
import { errorIssues, errorMessage, issuesByField } from '../lib/errors.ts';
import { describePermission } from '../lib/permissions.ts';
import { trpc } from '../trpc.ts';
import type { RouterOutputs } from '../types.ts';
import { ErrorAlert } from './Alert.tsx';

type Field = 'name' | 'permissions' | 'expiresAt' | 'rateLimit' | '_form';
type Errors = Partial<Record<Field, string>>;

export type CreatedApiKey = RouterOutputs['apiKeys']['create'];

/** Acting on one's own account and sessions belongs to a person: a key never carries it. */
const SESSION_ONLY: readonly Permission[] = ['account.self'];

/** What a key made by this user may carry: their own permissions, less the session-only ones. */
export function grantablePermissions(own: readonly Permission[]): Permission[] {
  return own.filter((p) => !SESSION_ONLY.includes(p));
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Today as the value of a date input, in local time. */
function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** A date input's day → the end of that day, local time, as an ISO date-time. */
function endOfDay(date: string): string | null {
  const at = new Date(`${date}T23:59:59.999`);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

export function CreateApiKeyForm({ available, onCreated }: { available: Permission[]; onCreated: (created: CreatedApiKey) => void }) {
  const utils = trpc.useUtils();
  const create = trpc.apiKeys.create.useMutation();
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState<Permission[]>([]);
  const [expiry, setExpiry] = useState('');
  const [rateLimit, setRateLimit] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const ids = { name: useId(), permissions: useId(), expiry: useId(), expiryHint: useId(), rate: useId(), rateHint: useId() };

  function toggle(permission: Permission, on: boolean) {
    setPermissions((current) => (on ? [...current, permission] : current.filter((p) => p !== permission)));
  }

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const expiresAt = expiry ? endOfDay(expiry) : null;
    const candidate = {
      name,
      // In the order the list shows them, whatever order they were ticked in.
      permissions: available.filter((p) => permissions.includes(p)),
      ...(expiresAt ? { expiresAt } : {}),
      ...(rateLimit.trim() ? { rateLimit: Number(rateLimit) } : {}),
    };
    // The same schema the server validates with; two fields get plainer words than its own.
    const parsed = createApiKeyInput.safeParse(candidate);
    const found: Errors = parsed.success ? {} : (issuesByField(parsed.error.issues) as Errors);
    if (found.rateLimit) found.rateLimit = 'Enter a whole number of requests per minute, from 1 to 100,000';
    if (expiry && !expiresAt) found.expiresAt = 'Enter a valid date';
    else if (expiresAt && new Date(expiresAt).getTime() <= Date.now()) found.expiresAt = 'Choose today or a later day';
    if (!parsed.success || Object.keys(found).length > 0) {
      setErrors(found);
      return;
    }
    setErrors({});
    try {
      const result = await create.mutateAsync(parsed.data);
      // Keep the key out of the mutation cache: the page shows it once, then forgets it.
      create.reset();
      setName('');
      setPermissions([]);
      setExpiry('');
      setRateLimit('');
      void utils.apiKeys.list.invalidate();
      onCreated(result);
    } catch (err) {
      const byField = issuesByField(errorIssues(err)) as Errors;
      if (Object.keys(byField).length === 0 || !(byField.name || byField.permissions || byField.expiresAt || byField.rateLimit)) {
        byField._form = errorMessage(err);
      }
      setErrors(byField);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="form form-grid api-key-form" aria-label="Create an API key">
      {errors._form && <ErrorAlert>{errors._form}</ErrorAlert>}
      <div className="field">
        <label htmlFor={ids.name}>Name</label>
        <input
          id={ids.name}
          type="text"
          autoComplete="off"
          maxLength={100}
          placeholder="e.g. risk-reporter"
          value={name}
          aria-invalid={!!errors.name}
          aria-describedby={errors.name ? `${ids.name}-error` : undefined}
          onChange={(e) => setName(e.target.value)}
        />
        {errors.name && (
          <p className="field-error" id={`${ids.name}-error`}>
            {errors.name}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor={ids.expiry}>Expires (optional)</label>
        <input
          id={ids.expiry}
          type="date"
          min={today()}
          value={expiry}
          aria-invalid={!!errors.expiresAt}
          aria-describedby={[errors.expiresAt ? `${ids.expiry}-error` : null, ids.expiryHint].filter(Boolean).join(' ')}
          onChange={(e) => setExpiry(e.target.value)}
        />
        {errors.expiresAt && (
          <p className="field-error" id={`${ids.expiry}-error`}>
            {errors.expiresAt}
          </p>
        )}
        <p className="hint" id={ids.expiryHint}>
          The key stops working at the end of that day (your time). Empty: it does not expire.
        </p>
      </div>
      <div className="field">
        <label htmlFor={ids.rate}>Rate limit (optional)</label>
        <input
          id={ids.rate}
          type="number"
          inputMode="numeric"
          min={1}
          max={100_000}
          step={1}
          value={rateLimit}
          aria-invalid={!!errors.rateLimit}
          aria-describedby={[errors.rateLimit ? `${ids.rate}-error` : null, ids.rateHint].filter(Boolean).join(' ')}
          onChange={(e) => setRateLimit(e.target.value)}
        />
        {errors.rateLimit && (
          <p className="field-error" id={`${ids.rate}-error`}>
            {errors.rateLimit}
          </p>
        )}
        <p className="hint" id={ids.rateHint}>
          Requests per minute for this key, on top of the server's own limits.
        </p>
      </div>
      <fieldset
        className="permission-checks"
        aria-invalid={!!errors.permissions}
        aria-describedby={errors.permissions ? `${ids.permissions}-error` : undefined}
      >
        <legend>Permissions</legend>
        <p className="hint">A key can do only what you can do, and loses a permission when you lose it.</p>
        {available.length === 0 ? (
          <p className="muted">You have no permissions a key could carry.</p>
        ) : (
          <div className="permission-check-grid">
            {available.map((permission) => {
              const id = `${ids.permissions}-${permission}`;
              return (
                <div className="field-check permission-check" key={permission}>
                  <input
                    id={id}
                    type="checkbox"
                    checked={permissions.includes(permission)}
                    onChange={(e) => toggle(permission, e.target.checked)}
                  />
                  <label htmlFor={id}>
                    <code>{permission}</code>
                    <span className="permission-check-text">{describePermission(permission)}</span>
                  </label>
                </div>
              );
            })}
          </div>
        )}
        {errors.permissions && (
          <p className="field-error" id={`${ids.permissions}-error`}>
            {errors.permissions}
          </p>
        )}
      </fieldset>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={create.isPending || available.length === 0}>
          {create.isPending ? 'Creating…' : 'Create API key'}
        </button>
      </div>
    </form>
  );
}

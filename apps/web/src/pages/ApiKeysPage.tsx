import { API_KEY_MAX_GRACE_SECONDS } from '@tapevision/api/schemas';
import { Fragment, useId, useState } from 'react';
import { ErrorAlert, Notice } from '../components/Alert.tsx';
import { ConfirmButton } from '../components/ConfirmButton.tsx';
import { CreateApiKeyForm, grantablePermissions } from '../components/CreateApiKeyForm.tsx';
import { Loading } from '../components/Loading.tsx';
import { OneTimeApiKey } from '../components/OneTimeApiKey.tsx';
import { errorMessage } from '../lib/errors.ts';
import { formatDateTime, formatRelative } from '../lib/format.ts';
import { describePermission } from '../lib/permissions.ts';
import { useMe } from '../lib/use-me.ts';
import { trpc } from '../trpc.ts';
import type { RouterOutputs } from '../types.ts';
import './api-keys.css';

type ApiKeyView = RouterOutputs['apiKeys']['list'][number];
type Message = { kind: 'success' | 'error'; text: string } | null;
/** A key string to show once, and what it is. */
type Revealed = { title: string; key: string } | null;

export default function ApiKeysPage() {
  const me = useMe();
  const keys = trpc.apiKeys.list.useQuery();
  const [revealed, setRevealed] = useState<Revealed>(null);
  const [message, setMessage] = useState<Message>(null);
  const [rollingId, setRollingId] = useState<string | null>(null);
  // Admins (users.manage) see and manage every user's keys; everyone else only their own.
  const seesAll = me.data?.permissions.includes('users.manage') ?? false;
  const columns = seesAll ? 8 : 7;

  function reveal(next: Revealed) {
    setMessage(null);
    setRevealed(next);
  }

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1>API keys</h1>
          <p className="lead">
            Keys let your services call Tape Vision without a person signing in. Each key acts for you, with the
            permissions you give it.
          </p>
        </div>
      </div>

      {revealed && <OneTimeApiKey title={revealed.title} apiKey={revealed.key} onDone={() => setRevealed(null)} />}

      <div className="card">
        <h2>Create an API key</h2>
        {me.isPending && <Loading label="Loading your permissions…" />}
        {me.error && <ErrorAlert error={me.error} />}
        {me.data && (
          <CreateApiKeyForm
            available={grantablePermissions(me.data.permissions)}
            onCreated={(created) => reveal({ title: `New API key "${created.apiKey.name}"`, key: created.key })}
          />
        )}
      </div>

      <div className="card">
        <h2>{seesAll ? 'All API keys' : 'Your API keys'}</h2>
        {message?.kind === 'success' && <Notice kind="success">{message.text}</Notice>}
        {message?.kind === 'error' && <ErrorAlert>{message.text}</ErrorAlert>}
        {keys.isPending && <Loading label="Loading API keys…" />}
        {keys.error && <ErrorAlert error={keys.error} />}
        {keys.data && keys.data.length === 0 && <p className="muted">No API keys yet.</p>}
        {keys.data && keys.data.length > 0 && (
          <div className="table-wrap">
            <table className="table api-keys-table">
              <caption className="sr-only">API keys</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Prefix</th>
                  {seesAll && <th scope="col">Owner</th>}
                  <th scope="col">Permissions</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.data.map((key) => (
                  <ApiKeyRows
                    key={key.id}
                    apiKey={key}
                    showOwner={seesAll}
                    canRoll={key.ownerId === me.data?.user.id}
                    columns={columns}
                    rolling={rollingId === key.id}
                    onToggleRoll={() => setRollingId((id) => (id === key.id ? null : key.id))}
                    onRolled={(newKey) => {
                      setRollingId(null);
                      reveal({ title: `New key for "${key.name}"`, key: newKey });
                    }}
                    onMessage={setMessage}
                  />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </section>
  );
}

function StatusBadges({ apiKey }: { apiKey: ApiKeyView }) {
  return (
    <>
      {apiKey.status === 'active' && <span className="badge badge-ok">active</span>}
      {apiKey.status === 'expired' && <span className="badge badge-warning">expired</span>}
      {apiKey.status === 'revoked' && (
        <span className="badge badge-danger" title={`Revoked ${formatDateTime(apiKey.revokedAt)}`}>
          revoked
        </span>
      )}
      {apiKey.previousExpiresAt && (
        <span className="badge badge-warning" title={formatDateTime(apiKey.previousExpiresAt)}>
          old key works until {formatDateTime(apiKey.previousExpiresAt)}
        </span>
      )}
    </>
  );
}

function ApiKeyRows({
  apiKey,
  showOwner,
  columns,
  rolling,
  onToggleRoll,
  onRolled,
  canRoll,
  onMessage,
}: {
  apiKey: ApiKeyView;
  showOwner: boolean;
  columns: number;
  rolling: boolean;
  onToggleRoll: () => void;
  onRolled: (newKey: string) => void;
  /** Only a key's owner can roll it; an admin may revoke anyone's key but not take it over. */
  canRoll: boolean;
  onMessage: (message: Message) => void;
}) {
  const utils = trpc.useUtils();
  const revoke = trpc.apiKeys.revoke.useMutation({ onSettled: () => utils.apiKeys.list.invalidate() });
  const panelId = useId();
  const active = apiKey.status === 'active';

  return (
    <Fragment>
      <tr data-api-key-name={apiKey.name} data-api-key-id={apiKey.id} className={rolling ? 'row-open' : undefined}>
        <td>
          <span className="api-key-name">{apiKey.name}</span>
          {apiKey.rateLimitPerMinute !== null && (
            <span className="badge badge-muted" title="This key's own rate limit">
              {apiKey.rateLimitPerMinute}/min
            </span>
          )}
        </td>
        <td>
          <code>{apiKey.prefix}</code>
        </td>
        {showOwner && <td>{apiKey.ownerEmail ?? '—'}</td>}
        <td>
          <ul className="key-permissions" aria-label={`Permissions of ${apiKey.name}`}>
            {apiKey.permissions.map((p) => (
              <li key={p} title={describePermission(p)}>
                <code>{p}</code>
              </li>
            ))}
          </ul>
        </td>
        <td title={formatDateTime(apiKey.lastUsedAt)}>{apiKey.lastUsedAt ? formatRelative(apiKey.lastUsedAt) : 'Never'}</td>
        <td title={formatDateTime(apiKey.expiresAt)}>{apiKey.expiresAt ? formatDateTime(apiKey.expiresAt) : 'Never'}</td>
        <td>
          <StatusBadges apiKey={apiKey} />
        </td>
        <td className="cell-actions">
          {active && (
            <span className="button-row api-key-actions">
              {canRoll && (
              <button
                type="button"
                className="btn btn-secondary btn-small"
                aria-expanded={rolling}
                aria-controls={panelId}
                aria-label={`${rolling ? 'Cancel rolling' : 'Roll'} ${apiKey.name}`}
                onClick={onToggleRoll}
              >
                {rolling ? 'Cancel' : 'Roll'}
              </button>
              )}
              <ConfirmButton
                question={`Revoke ${apiKey.name}? Services using it stop at once.`}
                confirmLabel="Yes, revoke"
                disabled={revoke.isPending}
                onConfirm={async () => {
                  onMessage(null);
                  try {
                    await revoke.mutateAsync({ id: apiKey.id });
                    onMessage({ kind: 'success', text: `Revoked ${apiKey.name}. It no longer works.` });
                  } catch (err) {
                    onMessage({ kind: 'error', text: errorMessage(err) });
                  }
                }}
              >
                Revoke
              </ConfirmButton>
            </span>
          )}
        </td>
      </tr>
      {rolling && (
        <tr className="row-detail" id={panelId}>
          <td colSpan={columns}>
            <RollPanel apiKey={apiKey} onRolled={onRolled} onClose={onToggleRoll} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

/** A new secret under the same prefix; the old one keeps working for the grace period. */
function RollPanel({ apiKey, onRolled, onClose }: { apiKey: ApiKeyView; onRolled: (newKey: string) => void; onClose: () => void }) {
  const utils = trpc.useUtils();
  const roll = trpc.apiKeys.roll.useMutation({ onSettled: () => utils.apiKeys.list.invalidate() });
  const [grace, setGrace] = useState('0');
  const [error, setError] = useState<string | null>(null);
  const graceId = useId();
  const hintId = useId();

  const seconds = Number(grace);
  const valid = grace.trim() !== '' && Number.isInteger(seconds) && seconds >= 0 && seconds <= API_KEY_MAX_GRACE_SECONDS;
  const when = !valid ? '' : seconds === 0 ? 'at once' : formatRelative(new Date(Date.now() + seconds * 1000).toISOString());

  // Revoked or expired meanwhile (elsewhere, or by the refusal below): nothing left to roll.
  if (apiKey.status !== 'active') {
    return (
      <div className="manage roll-panel" role="region" aria-label={`Roll ${apiKey.name}`}>
        {error && <ErrorAlert>{error}</ErrorAlert>}
        <p>
          <strong>{apiKey.name}</strong> is {apiKey.status}: it can no longer be rolled. Create a new key instead.
        </p>
        <button type="button" className="btn btn-secondary btn-small" onClick={onClose}>
          Close
        </button>
      </div>
    );
  }

  return (
    <div className="manage roll-panel" role="region" aria-label={`Roll ${apiKey.name}`}>
      {error && <ErrorAlert>{error}</ErrorAlert>}
      <p>
        Rolling gives <strong>{apiKey.name}</strong> a new secret under the same prefix and permissions. Deploy the new
        key to your service before the old one stops working.
      </p>
      <div className="inline-form">
        <div className="field">
          <label htmlFor={graceId}>Grace period (seconds)</label>
          <input
            id={graceId}
            type="number"
            inputMode="numeric"
            min={0}
            max={API_KEY_MAX_GRACE_SECONDS}
            step={1}
            value={grace}
            aria-invalid={!valid}
            aria-describedby={hintId}
            onChange={(e) => setGrace(e.target.value)}
          />
        </div>
        <ConfirmButton
          variant="secondary"
          question={`Roll ${apiKey.name}? The old key stops working ${when}.`}
          confirmLabel="Yes, roll"
          disabled={!valid || roll.isPending}
          onConfirm={async () => {
            setError(null);
            try {
              const result = await roll.mutateAsync({ id: apiKey.id, graceSeconds: seconds });
              // Keep the new key out of the mutation cache: the page shows it once.
              roll.reset();
              onRolled(result.key);
            } catch (err) {
              setError(errorMessage(err));
            }
          }}
        >
          Roll key
        </ConfirmButton>
      </div>
      <p className={valid ? 'hint' : 'field-error'} id={hintId}>
        {valid
          ? `How long the old key keeps working: 0 ends it at once; at most ${API_KEY_MAX_GRACE_SECONDS.toLocaleString()} (7 days). The old key stops ${when}.`
          : `Enter a whole number of seconds from 0 to ${API_KEY_MAX_GRACE_SECONDS.toLocaleString()} (7 days).`}
      </p>
    </div>
  );
}

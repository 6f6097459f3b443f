import {
  createBotInput,
  SECRET_MASK,
  STRATEGY_NAMES,
  updateBotInput,
  type BotView,
  type CreateBotInput,
  type StrategyName,
  type UpdateBotInput,
} from '@tapevision/api/schemas/bots';
import type { UniverseInstrument } from '@tapevision/api/schemas';
import { useId, useState, type FormEvent } from 'react';
import { errorIssues, errorMessage, issuesByField } from '../../lib/errors.ts';
import { ErrorAlert } from '../Alert.tsx';
import { STRATEGY_FIELDS } from './strategy-fields.ts';

interface CredentialRow {
  /** Stable across edits, for React keys. */
  rowId: number;
  key: string;
  value: string;
  /** Came from the server (masked): left as is, the saved secret is kept. */
  saved: boolean;
}

type Errors = Record<string, string>;

let nextRowId = 0;
const row = (key = '', value = '', saved = false): CredentialRow => ({ rowId: ++nextRowId, key, value, saved });

/** The path of an issue as the form names its fields: "parameters.lookback", "credentials". */
function errorsFrom(issues: readonly { path: readonly PropertyKey[]; message: string }[]): Errors {
  const out: Errors = {};
  for (const issue of issues) {
    const key = issue.path.length === 0 ? '_form' : issue.path[0] === 'parameters' && issue.path.length > 1 ? `parameters.${String(issue.path[1])}` : String(issue.path[0]);
    out[key] ??= issue.message;
  }
  return out;
}

/**
 * Create a bot, or edit one. On edit, secrets arrive as SECRET_MASK and stay masked in their
 * fields: sent back untouched, the server keeps the saved value; typed over, it is replaced.
 * The values never reach the browser at all.
 */
export function BotForm({
  bot,
  universe,
  onCreate,
  onUpdate,
  onDone,
}: {
  bot: BotView | null;
  universe: readonly UniverseInstrument[];
  onCreate: (input: CreateBotInput) => Promise<BotView>;
  onUpdate: (input: UpdateBotInput) => Promise<BotView>;
  onDone: (bot: BotView | null) => void;
}) {
  const id = useId();
  const [name, setName] = useState(bot?.name ?? '');
  const [strategy, setStrategy] = useState<StrategyName>(bot?.strategy ?? STRATEGY_NAMES[0]);
  const [symbols, setSymbols] = useState<string[]>(bot?.symbols ?? []);
  const known = STRATEGY_FIELDS[strategy].fields.map((f) => f.key);
  const [params, setParams] = useState<Record<string, string>>(() =>
    Object.fromEntries(known.map((k) => [k, bot && typeof bot.parameters[k] === 'number' ? String(bot.parameters[k]) : ''])),
  );
  const [credentials, setCredentials] = useState<CredentialRow[]>(() =>
    bot ? Object.entries(bot.credentials).map(([k, v]) => row(k, v, v === SECRET_MASK)) : [row()],
  );
  const [errors, setErrors] = useState<Errors>({});
  const [pending, setPending] = useState(false);

  function parameters(): Record<string, unknown> {
    // Settings this form has no field for are sent back as they came (masked secrets included).
    const extra = bot ? Object.fromEntries(Object.entries(bot.parameters).filter(([k]) => !known.includes(k))) : {};
    const own = Object.fromEntries(
      Object.entries(params)
        .filter(([, v]) => v.trim() !== '')
        .map(([k, v]) => [k, Number(v)]),
    );
    return { ...extra, ...own };
  }

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const creds = Object.fromEntries(credentials.filter((c) => c.key.trim() !== '' || c.value !== '').map((c) => [c.key.trim(), c.value]));
    const base = { name, strategy, symbols: universe.map((i) => i.symbol).filter((s) => symbols.includes(s)), parameters: parameters(), credentials: creds };
    const parsed = bot ? updateBotInput.safeParse({ id: bot.id, version: bot.version, ...base }) : createBotInput.safeParse(base);
    if (!parsed.success) {
      setErrors(errorsFrom(parsed.error.issues));
      return;
    }
    setErrors({});
    setPending(true);
    try {
      const saved = bot ? await onUpdate(parsed.data as UpdateBotInput) : await onCreate(parsed.data as CreateBotInput);
      onDone(saved);
    } catch (err) {
      const found = errorsFrom(errorIssues(err));
      if (Object.keys(found).length === 0) found._form = errorMessage(err);
      setErrors(found);
    } finally {
      setPending(false);
    }
  }

  const err = (key: string) =>
    errors[key] ? (
      <p className="field-error" id={`${id}-${key}-error`}>
        {errors[key]}
      </p>
    ) : null;

  return (
    <form onSubmit={submit} noValidate className="form bot-form" aria-label={bot ? `Edit bot ${bot.name}` : 'New bot'}>
      {errors._form && <ErrorAlert>{errors._form}</ErrorAlert>}
      <div className="bot-form-row">
        <div className="field">
          <label htmlFor={`${id}-name`}>Name</label>
          <input
            id={`${id}-name`}
            type="text"
            autoComplete="off"
            maxLength={80}
            value={name}
            aria-invalid={!!errors.name}
            aria-describedby={errors.name ? `${id}-name-error` : undefined}
            onChange={(e) => setName(e.target.value)}
          />
          {err('name')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-strategy`}>Strategy</label>
          <select id={`${id}-strategy`} value={strategy} onChange={(e) => setStrategy(e.target.value as StrategyName)}>
            {STRATEGY_NAMES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
          <p className="hint">{STRATEGY_FIELDS[strategy].description}</p>
        </div>
      </div>

      <fieldset className="bot-fieldset" aria-invalid={!!errors.symbols} aria-describedby={errors.symbols ? `${id}-symbols-error` : undefined}>
        <legend>Symbols</legend>
        <div className="bot-symbols">
          {universe.map((i) => (
            <div className="field-check" key={i.symbol}>
              <input
                id={`${id}-sym-${i.symbol}`}
                type="checkbox"
                checked={symbols.includes(i.symbol)}
                onChange={(e) => setSymbols((s) => (e.target.checked ? [...s, i.symbol] : s.filter((x) => x !== i.symbol)))}
              />
              <label htmlFor={`${id}-sym-${i.symbol}`}>
                {i.symbol} <span className="muted">{i.name}</span>
              </label>
            </div>
          ))}
        </div>
        {err('symbols')}
      </fieldset>

      <fieldset className="bot-fieldset">
        <legend>Parameters</legend>
        <div className="bot-params">
          {STRATEGY_FIELDS[strategy].fields.map((f) => {
            const key = `parameters.${f.key}`;
            return (
              <div className="field" key={f.key}>
                <label htmlFor={`${id}-${f.key}`}>{f.label}</label>
                <input
                  id={`${id}-${f.key}`}
                  type="number"
                  inputMode="numeric"
                  step={1}
                  placeholder={f.placeholder}
                  value={params[f.key] ?? ''}
                  aria-invalid={!!errors[key]}
                  aria-describedby={[errors[key] ? `${id}-${key}-error` : null, `${id}-${f.key}-hint`].filter(Boolean).join(' ')}
                  onChange={(e) => setParams((p) => ({ ...p, [f.key]: e.target.value }))}
                />
                {err(key)}
                <p className="hint" id={`${id}-${f.key}-hint`}>
                  {f.hint}
                </p>
              </div>
            );
          })}
        </div>
        {err('parameters')}
      </fieldset>

      <fieldset className="bot-fieldset">
        <legend>Credentials</legend>
        <p className="hint">
          Broker keys, webhook tokens: stored encrypted, never shown again. A saved one shows as <code>{SECRET_MASK}</code> and is kept unless you
          type a new value.
        </p>
        {credentials.map((c, index) => (
          <div className="bot-credential" key={c.rowId} role="group" aria-label={`Credential ${index + 1}`}>
            <div className="field">
              <label htmlFor={`${id}-ck-${c.rowId}`}>Credential name</label>
              <input
                id={`${id}-ck-${c.rowId}`}
                type="text"
                autoComplete="off"
                placeholder="e.g. apiKey"
                value={c.key}
                onChange={(e) => setCredentials((rows) => rows.map((r) => (r.rowId === c.rowId ? { ...r, key: e.target.value } : r)))}
              />
            </div>
            <div className="field">
              <label htmlFor={`${id}-cv-${c.rowId}`}>Secret value</label>
              <input
                id={`${id}-cv-${c.rowId}`}
                type="password"
                autoComplete="new-password"
                value={c.value}
                data-masked={c.saved && c.value === SECRET_MASK}
                onFocus={(e) => {
                  // A saved secret is replaced, never appended to: select it whole.
                  if (c.saved && c.value === SECRET_MASK) e.target.select();
                }}
                onChange={(e) => setCredentials((rows) => rows.map((r) => (r.rowId === c.rowId ? { ...r, value: e.target.value } : r)))}
              />
              {c.saved && c.value === SECRET_MASK && <p className="hint">Saved; kept as it is.</p>}
            </div>
            <button
              type="button"
              className="btn btn-ghost btn-small"
              aria-label={`Remove credential ${c.key || index + 1}`}
              onClick={() => setCredentials((rows) => rows.filter((r) => r.rowId !== c.rowId))}
            >
              Remove
            </button>
          </div>
        ))}
        {err('credentials')}
        <button type="button" className="btn btn-secondary btn-small" onClick={() => setCredentials((rows) => [...rows, row()])}>
          Add a credential
        </button>
      </fieldset>

      <div className="form-actions button-row">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? 'Saving…' : bot ? 'Save changes' : 'Create bot'}
        </button>
        <button type="button" className="btn btn-ghost" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

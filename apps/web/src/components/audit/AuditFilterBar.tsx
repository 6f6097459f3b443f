import { ACTOR_TYPES, AUDIT_ACTIONS, AUDIT_OUTCOMES, SEVERITIES, type AuditFilter } from '@tapevision/api/schemas';
import { useId, useState, type FormEvent } from 'react';
import {
  draftFromFilters,
  EMPTY_DRAFT,
  filtersFromDraft,
  type AuditFilterDraft,
  type AuditFilterKey,
  type DraftErrors,
} from '../../lib/audit-filters.ts';

/** Actions grouped by their prefix ("auth", "user", …) for the select's option groups. */
const ACTION_GROUPS: [string, string[]][] = (() => {
  const groups = new Map<string, string[]>();
  for (const action of AUDIT_ACTIONS) {
    const group = action.split('.')[0]!;
    groups.set(group, [...(groups.get(group) ?? []), action]);
  }
  return [...groups.entries()];
})();

type FieldSpec =
  | { key: AuditFilterKey; label: string; kind: 'datetime' }
  | { key: AuditFilterKey; label: string; kind: 'text'; placeholder: string }
  | { key: AuditFilterKey; label: string; kind: 'select'; options: readonly string[] };

const FIELDS: FieldSpec[] = [
  { key: 'from', label: 'From', kind: 'datetime' },
  { key: 'to', label: 'To', kind: 'datetime' },
  { key: 'actor', label: 'Actor', kind: 'text', placeholder: 'user or API key id' },
  { key: 'actorType', label: 'Actor type', kind: 'select', options: ACTOR_TYPES },
  { key: 'action', label: 'Action', kind: 'select', options: AUDIT_ACTIONS },
  { key: 'outcome', label: 'Outcome', kind: 'select', options: AUDIT_OUTCOMES },
  { key: 'severity', label: 'Severity', kind: 'select', options: SEVERITIES },
  { key: 'minSeverity', label: 'Minimum severity', kind: 'select', options: SEVERITIES },
  { key: 'ip', label: 'IP address', kind: 'text', placeholder: 'e.g. 203.0.113.7' },
  { key: 'resourceType', label: 'Resource type', kind: 'text', placeholder: 'e.g. user' },
  { key: 'resourceId', label: 'Resource ID', kind: 'text', placeholder: 'id' },
];

/**
 * The audit log's filters, checked with the server's schema before they are applied. The page
 * remounts this form whenever the applied filters change (back button, reset), so it starts from them.
 */
export function AuditFilterBar({ applied, onApply }: { applied: AuditFilter; onApply: (filters: AuditFilter) => void }) {
  const [draft, setDraft] = useState<AuditFilterDraft>(() => draftFromFilters(applied));
  const [errors, setErrors] = useState<DraftErrors>({});
  const baseId = useId();

  function set(key: AuditFilterKey, value: string) {
    setDraft((d) => ({ ...d, [key]: value }));
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const result = filtersFromDraft(draft);
    if (!result.ok) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    onApply(result.filters);
  }

  return (
    <form className="audit-filters" aria-label="Audit log filters" noValidate onSubmit={submit}>
      <div className="audit-filter-grid">
        {FIELDS.map((field) => {
          const id = `${baseId}-${field.key}`;
          const error = errors[field.key];
          const common = {
            id,
            value: draft[field.key],
            'aria-invalid': !!error,
            'aria-describedby': error ? `${id}-error` : undefined,
          };
          return (
            <div className="field" key={field.key}>
              <label htmlFor={id}>{field.label}</label>
              {field.kind === 'datetime' && (
                <input {...common} type="datetime-local" step={1} onChange={(e) => set(field.key, e.target.value)} />
              )}
              {field.kind === 'text' && (
                <input
                  {...common}
                  type="text"
                  autoComplete="off"
                  spellCheck={false}
                  maxLength={200}
                  placeholder={field.placeholder}
                  onChange={(e) => set(field.key, e.target.value)}
                />
              )}
              {field.kind === 'select' && (
                <select {...common} onChange={(e) => set(field.key, e.target.value)}>
                  <option value="">Any</option>
                  {field.key === 'action'
                    ? ACTION_GROUPS.map(([group, actions]) => (
                        <optgroup key={group} label={group}>
                          {actions.map((a) => (
                            <option key={a} value={a}>
                              {a}
                            </option>
                          ))}
                        </optgroup>
                      ))
                    : field.options.map((o) => (
                        <option key={o} value={o}>
                          {o}
                        </option>
                      ))}
                </select>
              )}
              {error && (
                <p className="field-error" id={`${id}-error`}>
                  {error}
                </p>
              )}
            </div>
          );
        })}
      </div>
      <div className="button-row audit-filter-actions">
        <button type="submit" className="btn btn-primary">
          Apply filters
        </button>
        <button
          type="button"
          className="btn btn-ghost"
          onClick={() => {
            setDraft(EMPTY_DRAFT);
            setErrors({});
            onApply({});
          }}
        >
          Clear filters
        </button>
      </div>
    </form>
  );
}

import { assessPassword } from '@tapevision/api/schemas';
import { useDeferredValue, useMemo } from 'react';

const LABELS = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'] as const;

/** The server's own strength estimate (zxcvbn), live: score 0–4, its warning and suggestions. */
export function PasswordStrength({ id, password, email }: { id: string; password: string; email?: string }) {
  const deferred = useDeferredValue(password);
  const verdict = useMemo(() => assessPassword(deferred, email), [deferred, email]);

  if (!deferred) {
    return (
      <p className="hint" id={id}>
        At least 12 characters. A few unrelated words make a strong, memorable password.
      </p>
    );
  }
  return (
    <div className="strength" id={id} data-score={verdict.score}>
      <div
        className="strength-bar"
        role="meter"
        aria-label="Password strength"
        aria-valuemin={0}
        aria-valuemax={4}
        aria-valuenow={verdict.score}
        aria-valuetext={LABELS[verdict.score]}
      >
        {[1, 2, 3, 4].map((step) => (
          <span key={step} className={step <= verdict.score ? 'on' : undefined} />
        ))}
      </div>
      <p className="strength-label">
        Strength: <strong>{LABELS[verdict.score]}</strong>
        {verdict.ok ? ' — meets the policy' : verdict.problem === 'too_short' ? ' — too short' : ''}
      </p>
      {verdict.warning && <p className="strength-warning">{verdict.warning}</p>}
      {verdict.suggestions.length > 0 && (
        <ul className="strength-suggestions">
          {verdict.suggestions.map((s) => (
            <li key={s}>{s}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

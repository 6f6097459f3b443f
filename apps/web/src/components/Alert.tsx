import type { ReactNode } from 'react';
import { errorMessage } from '../lib/errors.ts';

export function ErrorAlert({ error, children }: { error?: unknown; children?: ReactNode }) {
  return (
    <div className="alert alert-error" role="alert">
      {children ?? errorMessage(error)}
    </div>
  );
}

export function Notice({ kind = 'info', children }: { kind?: 'info' | 'success' | 'warning'; children: ReactNode }) {
  return (
    <div className={`alert alert-${kind}`} role="status">
      {children}
    </div>
  );
}

import type { AuditEntry, AuditFilter } from '@tapevision/api/schemas';
import { skipToken } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage } from '../../lib/errors.ts';
import { trpc } from '../../trpc.ts';

/** Rows a tail keeps; older ones are still in the table's pages, or a Refresh away. */
const MAX_TAIL_ROWS = 2_000;
/** How long a row the tail brought stays highlighted. */
const FRESH_MS = 4_000;

export type TailState = 'off' | 'connecting' | 'live' | 'error';

function newestFirst(a: AuditEntry, b: AuditEntry): number {
  if (a.at !== b.at) return a.at < b.at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * audit.onEvent with the table's filters while `enabled`: entries committed from now on, newest
 * first, each once (the socket resumes after the last event id if it drops). They are forgotten
 * when the filters change, and by `clear` when the table is reloaded.
 */
export function useLiveTail(filters: AuditFilter, enabled: boolean) {
  const [rows, setRows] = useState<AuditEntry[]>([]);
  const [freshIds, setFreshIds] = useState<ReadonlySet<string>>(new Set());
  const timers = useRef(new Set<ReturnType<typeof setTimeout>>());

  useEffect(() => {
    const pending = timers.current;
    return () => {
      for (const t of pending) clearTimeout(t);
    };
  }, []);

  const subscription = trpc.audit.onEvent.useSubscription(enabled ? filters : skipToken, {
    onData: ({ data: entry }) => {
      setRows((current) => (current.some((r) => r.id === entry.id) ? current : [entry, ...current].sort(newestFirst).slice(0, MAX_TAIL_ROWS)));
      setFreshIds((current) => new Set(current).add(entry.id));
      const timer = setTimeout(() => {
        timers.current.delete(timer);
        setFreshIds((current) => {
          const next = new Set(current);
          next.delete(entry.id);
          return next;
        });
      }, FRESH_MS);
      timers.current.add(timer);
    },
  });

  const clear = useCallback(() => {
    setRows([]);
    setFreshIds(new Set());
  }, []);

  // Rows that matched other filters do not belong under these (back button, a shared link).
  const filterKey = JSON.stringify(filters);
  useEffect(() => clear(), [filterKey, clear]);

  const state: TailState = !enabled
    ? 'off'
    : subscription.status === 'pending'
      ? 'live'
      : subscription.status === 'error'
        ? 'error'
        : 'connecting';

  return { rows, freshIds, state, error: subscription.error ? errorMessage(subscription.error) : null, clear };
}

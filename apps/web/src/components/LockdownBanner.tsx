import { formatDateTimeSeconds } from '../lib/format.ts';
import { trpc } from '../trpc.ts';

/**
 * Shown to everyone signed in while an emergency lockdown holds; security.onStatus keeps it live
 * (engaged or lifted on any process). Non-admins are signed out by the lockdown itself, so in
 * practice the admins see it, and everyone sees it go.
 */
export function LockdownBanner() {
  const utils = trpc.useUtils();
  const status = trpc.security.status.useQuery(undefined, { staleTime: 30_000 });
  trpc.security.onStatus.useSubscription(undefined, {
    onData: (event) => utils.security.status.setData(undefined, event.data.status),
  });
  const s = status.data;
  if (!s?.active) return null;
  const who = s.engagedBy ? (s.engagedBy.email ?? 'an admin') : 'the system (automated incident response)';
  return (
    <div className="lockdown-banner" role="alert" data-lockdown="active">
      <strong>Emergency lockdown</strong> since {s.since ? formatDateTimeSeconds(s.since) : '—'}, engaged by {who}: {s.reason}. New orders are refused;
      only reduce-only closes by admins go through.
    </div>
  );
}

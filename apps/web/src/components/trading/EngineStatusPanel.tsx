import type { EngineStatus } from '@tapevision/api/schemas';
import { useEffect, useState } from 'react';
import { formatDateTimeSeconds } from '../../lib/format.ts';
import { trpc } from '../../trpc.ts';
import { ErrorAlert } from '../Alert.tsx';
import { ConfirmButton } from '../ConfirmButton.tsx';
import { streamState } from './use-tape.ts';

function formatUptime(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m ${String(s).padStart(2, '0')}s` : `${m}m ${String(s).padStart(2, '0')}s`;
}

function useUptime(startedAt: string | null, running: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, [running]);
  if (!running || !startedAt) return 0;
  return Math.max(0, Math.floor((now - new Date(startedAt).getTime()) / 1000));
}

/**
 * Run state, risk limits and uptime, kept current by system.onStatus (a start or stop made
 * anywhere shows here at once). Start and Stop appear only for those allowed to use them.
 */
export function EngineStatusPanel({ status, canStart, canStop }: { status: EngineStatus; canStart: boolean; canStop: boolean }) {
  const utils = trpc.useUtils();
  const subscription = trpc.system.onStatus.useSubscription(undefined, {
    onData: () => void utils.system.status.invalidate(),
  });
  const start = trpc.system.start.useMutation({ onSuccess: (next) => utils.system.status.setData(undefined, next) });
  const stop = trpc.system.stop.useMutation({ onSuccess: (next) => utils.system.status.setData(undefined, next) });
  const running = status.state === 'running';
  const uptime = useUptime(status.startedAt, running);
  const live = streamState(subscription.status);
  const limits = status.riskLimits;

  return (
    <section className="card dash-card engine-card" aria-labelledby="engine-title">
      <div className="card-head">
        <h2 id="engine-title">Engine</h2>
        <span className={`live live-${live === 'error' ? 'offline' : live}`} data-engine-live={live} title="Live engine updates">
          <span className="live-dot" aria-hidden="true" />
          {live === 'live' ? 'Live' : live === 'error' ? 'Offline' : 'Connecting…'}
        </span>
      </div>
      <p className="engine-state" role="status" data-engine-state={status.state}>
        <span className={`badge ${running ? 'badge-ok' : 'badge-danger'}`}>{running ? 'Running' : 'Stopped'}</span>
        <span className="muted">
          {running
            ? `for ${formatUptime(uptime)}, since ${formatDateTimeSeconds(status.startedAt)}`
            : status.stoppedAt
              ? `since ${formatDateTimeSeconds(status.stoppedAt)}; every new order is refused`
              : 'every new order is refused'}
          {status.updatedBy ? ` (by ${status.updatedBy})` : ''}
        </span>
      </p>
      <dl className="engine-limits">
        <div>
          <dt>Largest order</dt>
          <dd>{limits.maxOrderQuantity} contracts</dd>
        </div>
        <div>
          <dt>Position per symbol</dt>
          <dd>{limits.maxPositionPerSymbol} contracts</dd>
        </div>
        <div>
          <dt>Daily notional</dt>
          <dd>${limits.maxDailyNotionalPerUser.toLocaleString()}</dd>
        </div>
        <div>
          <dt>Limit price band</dt>
          <dd>±{limits.limitPriceBandPct}%</dd>
        </div>
      </dl>
      {(canStart || canStop) && (
        <div className="button-row">
          {canStart && !running && (
            <button type="button" className="btn btn-primary" disabled={start.isPending} onClick={() => start.mutate()}>
              {start.isPending ? 'Starting…' : 'Start engine'}
            </button>
          )}
          {canStop && running && (
            <ConfirmButton question="Stop the engine? Every new order will be refused." confirmLabel="Stop now" disabled={stop.isPending} onConfirm={() => stop.mutate()}>
              {stop.isPending ? 'Stopping…' : 'Stop engine'}
            </ConfirmButton>
          )}
        </div>
      )}
      {start.error && <ErrorAlert error={start.error} />}
      {stop.error && <ErrorAlert error={stop.error} />}
      {subscription.error && <ErrorAlert>Live engine updates: {subscription.error.message}</ErrorAlert>}
    </section>
  );
}

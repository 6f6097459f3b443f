// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { alertsListInput, tradingStreamInput, type AlertView } from '../schemas/trading.ts';
import { recentEvents, tradingEventStream, type EventScope } from '../services/trading-events.ts';
import { toAlertView } from '../services/trading-views.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { accountReaderOf } from './trading.ts';

const view = permissionProcedure('alerts.view');

function alertScope(reader: { userId: string; allAccounts: boolean }): EventScope {
  return { kind: 'alert', ownerId: reader.allAccounts ? null : reader.userId, includeDeskWide: true };
}

export const alertsRouter = router({
  /** The newest alerts first: one's own and the desk's, or every account's with accounts.view. */
  list: view.input(alertsListInput).query(async ({ ctx, input }) => {
    const rows = await recentEvents(ctx.deps.db, alertScope(accountReaderOf(ctx)), input?.limit ?? 50);
    return rows.map(toAlertView);
  }),

  /** Trading alerts as they are raised, on any process; resumes after lastEventId. */
  onAlert: view.input(tradingStreamInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<AlertView>> {
    for await (const event of tradingEventStream(ctx.deps, alertScope(accountReaderOf(ctx)), input ?? {}, signal)) yield tracked(event.id.toString(), toAlertView(event));
  }),
});

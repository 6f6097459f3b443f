// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { configureSystemInput, systemOnStatusInput, type EngineStatusEvent } from '../schemas/system.ts';
import { configureEngine, engineStatusEvents, getEngineStatus, startEngine, stopEngine } from '../services/engine.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { readerOf } from './audit.ts';

const view = permissionProcedure('trading.view');

export const systemRouter = router({
  /** Run state, universe, risk limits and uptime; the same on every process. */
  status: view.query(({ ctx }) => getEngineStatus(ctx.deps)),

  /** Idempotent: starting a running engine changes nothing and answers the status. */
  start: permissionProcedure('system.start').mutation(({ ctx }) => startEngine(ctx.deps, readerOf(ctx))),

  stop: permissionProcedure('system.stop').mutation(({ ctx }) => stopEngine(ctx.deps, readerOf(ctx))),

  /** Any subset of the risk limits; the result is validated whole before it is stored. */
  configure: permissionProcedure('system.configure')
    .input(configureSystemInput)
    .mutation(({ ctx, input }) => configureEngine(ctx.deps, input, readerOf(ctx))),

  /** Every start, stop and configure as it commits, on any process; resumes after lastEventId. */
  onStatus: view.input(systemOnStatusInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<EngineStatusEvent>> {
    for await (const event of engineStatusEvents(ctx.deps, input ?? {}, signal)) yield tracked(event.id, event);
  }),
});

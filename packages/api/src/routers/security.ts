import { securityReportInput } from '../schemas/audit.ts';
import { lockdownProcedures } from '../security/lockdown/router.ts';
import { securityReport } from '../services/security-report.ts';
import { permissionProcedure, router } from '../trpc.ts';
import { readerOf } from './audit.ts';
import { blocksRouter } from '../security/blocks/router.ts';

export const securityRouter = router({
  /** Aggregates of the audit log over a time range, computed in SQL. */
  report: permissionProcedure('logs.view')
    .input(securityReportInput)
    .query(({ ctx, input }) => securityReport(ctx.deps, { from: new Date(input.from), to: new Date(input.to) }, readerOf(ctx))),
  /** The IP blocklist (security.manage): list, add, remove. */
  blocks: blocksRouter,
  ...lockdownProcedures,
});

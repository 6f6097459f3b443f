// Lets declaration emit name tracked()'s envelope type, which @trpc/server exports only from here.
import type {} from '@trpc/server/unstable-core-do-not-import';
import { tracked, type TrackedEnvelope } from '@trpc/server';
import { verifyAuditLog } from '../audit/verify.ts';
import { auditExportInput, auditListInput, auditTailInput, auditVerifyInput, type AuditEntry } from '../schemas/audit.ts';
import { exportAuditLog, listAuditLog, tailAuditLog, type AuditReader } from '../services/audit-log.ts';
import type { Principal } from '../services/principal.ts';
import type { RequestOrigin } from '../audit/recorder.ts';
import { permissionProcedure, router, sessionProcedure } from '../trpc.ts';

const viewLogs = permissionProcedure('logs.view');
// The live tail and the integrity check are for a signed-in admin, not a service: a tail is a
// long-lived socket (closed at once when a session is revoked), and a check reads every row.
const adminLogs = sessionProcedure('logs.view');

/** The reader as the audit row of their read names them: the key itself when a key reads. */
export function readerOf(ctx: { principal: Principal; origin: RequestOrigin }): AuditReader {
  const p = ctx.principal;
  return { actor: p.kind === 'apikey' ? { type: 'apikey', id: p.apiKeyId } : { type: 'user', id: p.userId }, origin: ctx.origin };
}

export const auditRouter = router({
  /** Newest first; pass nextCursor back as cursor for the next page. */
  list: viewLogs.input(auditListInput).query(({ ctx, input }) => listAuditLog(ctx.deps, input, readerOf(ctx))),

  /** NDJSON or CSV, streamed in chunks (httpBatchStreamLink); the export itself is audited. */
  export: viewLogs.input(auditExportInput).query(({ ctx, input }) => exportAuditLog(ctx.deps, input, readerOf(ctx))),

  /** Live tail: rows as they are committed, on every process; resumes after the last event id. */
  onEvent: adminLogs.input(auditTailInput).subscription(async function* ({ ctx, input, signal }): AsyncGenerator<TrackedEnvelope<AuditEntry>> {
    for await (const entry of tailAuditLog(ctx.deps, input, readerOf(ctx), signal)) yield tracked(entry.id, entry);
  }),

  /** Walks the keyed chains and checkpoints and reports the first changed, deleted or reordered row. */
  verify: adminLogs.input(auditVerifyInput).mutation(async ({ ctx, input }) => {
    const report = await verifyAuditLog(ctx.deps, {
      from: input.from ? new Date(input.from) : undefined,
      to: input.to ? new Date(input.to) : undefined,
    });
    const reader = readerOf(ctx);
    await ctx.deps.audit.record({
      action: report.ok ? 'audit.verified' : 'audit.chain_broken',
      outcome: report.ok ? 'success' : 'failure',
      actor: reader.actor,
      origin: reader.origin,
      details: { from: input.from ?? null, to: input.to ?? null, rowsChecked: report.rowsChecked, breaks: report.breaks.length, firstBreak: report.firstBreak },
    });
    return report;
  }),
});

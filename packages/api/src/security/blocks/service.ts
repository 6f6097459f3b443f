import { isIP } from 'node:net';
import { desc, eq, inArray, isNotNull, lte, or, sql } from 'drizzle-orm';
import { ipBlocks, ipFlags, users, type IpBlock, type Queryable } from '@tapevision/db';
import { auditedTransaction, type AuditEvent, type RequestOrigin } from '../../audit/recorder.ts';
import type { ApiDeps } from '../../deps.ts';
import { appError } from '../../errors.ts';
import type { SecurityResponse } from '../response.ts';
import { cidrContains, cidrsOverlap, parseCidr, type Cidr } from './cidr.ts';
import type { BlockAddInput, BlocksListInput, BlockStatus, BlockView } from './schemas.ts';
import { activeAt, activeBlockOf, announceBlocksChanged, lockBlocks } from './store.ts';

export interface BlockActor {
  userId: string;
  origin: RequestOrigin;
}

type Deps = Pick<ApiDeps, 'db' | 'bus' | 'clock' | 'audit' | 'config' | 'logger' | 'securityResponse'>;

/** Inactive blocks the list carries after the active ones, newest first. */
const HISTORY_LIMIT = 200;

const invalidIp = () => appError('BAD_REQUEST', 'Not an IP address or CIDR', { reason: 'INVALID_IP' });

/** Parsed by our normaliser and cross-checked with node:net, so the gate's BlockList reads it the same way. */
export function requireCidr(input: string): Cidr {
  const cidr = parseCidr(input);
  if (!cidr || isIP(cidr.address) !== cidr.family) throw invalidIp();
  return cidr;
}

/** True when SECURITY_ALLOWLIST covers the address: a trusted source, never acted on automatically. */
export function isAllowlisted(allowlist: readonly string[], ip: string): boolean {
  const cidr = parseCidr(ip);
  return cidr !== null && allowlistEntryFor(allowlist, cidr) !== null;
}

/** The SECURITY_ALLOWLIST entry the range shares addresses with, if any. */
export function allowlistEntryFor(allowlist: readonly string[], cidr: Cidr): string | null {
  for (const entry of allowlist) {
    const allowed = parseCidr(entry);
    if (allowed && cidrsOverlap(allowed, cidr)) return allowed.text;
  }
  return null;
}

function statusOf(row: IpBlock, now: Date): BlockStatus {
  if (row.removedAt) return 'removed';
  return row.expiresAt && row.expiresAt <= now ? 'expired' : 'active';
}

async function emailsOf(db: Queryable, ids: (string | null)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((id): id is string => id !== null))];
  if (wanted.length === 0) return new Map();
  const rows = await db.select({ id: users.id, email: users.email }).from(users).where(inArray(users.id, wanted));
  return new Map(rows.map((r) => [r.id, r.email]));
}

function toView(row: IpBlock, now: Date, emails: Map<string, string>): BlockView {
  const person = (id: string | null) => (id ? { id, email: emails.get(id) ?? null } : null);
  return {
    id: row.id,
    cidr: row.cidr,
    reason: row.reason,
    source: row.source,
    createdBy: person(row.createdBy),
    incidentId: row.incidentId,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    removedAt: row.removedAt?.toISOString() ?? null,
    removedBy: person(row.removedBy),
    status: statusOf(row, now),
  };
}

/**
 * security.blocks.list: every active block (soonest expiry first, permanent ones last), then, unless
 * status is 'active', the latest expired and removed ones marked as such, so an admin sees what is
 * enforced now and what was lifted recently.
 */
export async function listBlocks(deps: Pick<ApiDeps, 'db' | 'clock'>, input: BlocksListInput): Promise<BlockView[]> {
  const now = deps.clock.now();
  const active = await deps.db
    .select()
    .from(ipBlocks)
    .where(activeAt(now))
    .orderBy(sql`${ipBlocks.expiresAt} asc nulls last`, desc(ipBlocks.createdAt));
  const history =
    input?.status === 'active'
      ? []
      : await deps.db
          .select()
          .from(ipBlocks)
          .where(or(isNotNull(ipBlocks.removedAt), lte(ipBlocks.expiresAt, now)))
          .orderBy(desc(ipBlocks.createdAt))
          .limit(HISTORY_LIMIT);
  const rows = [...active, ...history];
  const emails = await emailsOf(deps.db, rows.flatMap((r) => [r.createdBy, r.removedBy]));
  return rows.map((r) => toView(r, now, emails));
}

function blockAudit(row: IpBlock, action: 'security.ip_blocked' | 'security.ip_unblocked', actor: AuditEvent['actor'], origin: RequestOrigin, details: Record<string, unknown>): AuditEvent {
  return {
    action,
    outcome: 'success',
    actor,
    origin,
    resource: { type: 'ip_block', id: row.id },
    details: { cidr: row.cidr, source: row.source, reason: row.reason, expiresAt: row.expiresAt?.toISOString() ?? null, incidentId: row.incidentId, ...details },
  };
}

function singleAddress(cidr: string): string | null {
  const parsed = parseCidr(cidr);
  return parsed && parsed.prefix === parsed.bytes.length * 8 ? parsed.address : null;
}

// After the commit: the block holds whether or not the alert gets through.
async function alertBlocked(deps: Deps, row: IpBlock): Promise<void> {
  const until = row.expiresAt ? `until ${row.expiresAt.toISOString()}` : 'permanently';
  try {
    await deps.securityResponse.raiseAlert({
      type: 'ip.blocked',
      severity: 'HIGH',
      title: `Blocked ${row.cidr}`,
      message: `${row.cidr} is blocked ${until} (${row.source}): ${row.reason}`,
      incidentId: row.incidentId,
      // A single address as itself, as every other alert names one; a range as its CIDR.
      ip: singleAddress(row.cidr) ?? row.cidr,
      userId: row.createdBy,
      details: { blockId: row.id, cidr: row.cidr, source: row.source, expiresAt: row.expiresAt?.toISOString() ?? null },
    });
  } catch (err) {
    deps.logger.warn({ err, cidr: row.cidr }, 'could not raise the ip.blocked alert');
  }
}

/** security.blocks.add: a person's block. Refuses the allowlist, the caller's own address, a past expiry and a duplicate. */
export async function addBlock(deps: Deps, input: BlockAddInput, actor: BlockActor): Promise<BlockView> {
  const cidr = requireCidr(input.ip);
  const now = deps.clock.now();
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw appError('BAD_REQUEST', 'The expiry must be in the future', { reason: 'EXPIRY_NOT_IN_FUTURE' });
  }
  const allowed = allowlistEntryFor(deps.config.ipAllowlist, cidr);
  if (allowed) {
    throw appError('BAD_REQUEST', `${cidr.text} is on the allowlist (SECURITY_ALLOWLIST ${allowed}) and cannot be blocked`, { reason: 'IP_ALLOWLISTED' });
  }
  // The lock-out guard: an admin never cuts off the address they are working from.
  const own = actor.origin.ip ? parseCidr(actor.origin.ip) : null;
  if (own && cidrContains(cidr, own)) {
    throw appError('BAD_REQUEST', `${cidr.text} contains your own address (${own.address}); you would lock yourself out`, { reason: 'BLOCKS_OWN_IP' });
  }
  const row = await auditedTransaction(deps, async (tx) => {
    await lockBlocks(tx);
    if (await activeBlockOf(tx, cidr.text, now)) {
      throw appError('CONFLICT', `${cidr.text} is already blocked; remove it first to change it`, { reason: 'IP_ALREADY_BLOCKED' });
    }
    const [inserted] = await tx
      .insert(ipBlocks)
      .values({ cidr: cidr.text, reason: input.reason, source: `user:${actor.userId}`, createdBy: actor.userId, createdAt: now, expiresAt })
      .returning();
    await deps.audit.recordIn(tx, blockAudit(inserted!, 'security.ip_blocked', { type: 'user', id: actor.userId }, actor.origin, {}));
    return inserted!;
  });
  await announceBlocksChanged(deps.bus, 'blocks');
  await alertBlocked(deps, row);
  return toView(row, now, await emailsOf(deps.db, [row.createdBy]));
}

/** security.blocks.remove: ends the active block of exactly this address or CIDR (kept as history). */
export async function removeBlock(deps: Deps, input: { ip: string }, actor: BlockActor): Promise<BlockView> {
  const cidr = requireCidr(input.ip);
  const now = deps.clock.now();
  const row = await auditedTransaction(deps, async (tx) => {
    await lockBlocks(tx);
    const existing = await activeBlockOf(tx, cidr.text, now);
    if (!existing) throw appError('NOT_FOUND', `No active block of ${cidr.text}`, { reason: 'BLOCK_NOT_FOUND' });
    const [removed] = await tx.update(ipBlocks).set({ removedAt: now, removedBy: actor.userId }).where(eq(ipBlocks.id, existing.id)).returning();
    await deps.audit.recordIn(tx, blockAudit(removed!, 'security.ip_unblocked', { type: 'user', id: actor.userId }, actor.origin, {}));
    return removed!;
  });
  await announceBlocksChanged(deps.bus, 'blocks');
  return toView(row, now, await emailsOf(deps.db, [row.createdBy, row.removedBy]));
}

const systemOrigin: RequestOrigin = { ip: null, userAgent: null, requestId: null };

/**
 * The port's blockIp: a rule's block. An allowlisted address is left alone ({ blocked: false });
 * an address already blocked keeps its block, lengthened when this one lasts longer.
 */
export async function blockIpByRule(deps: Deps, input: Parameters<SecurityResponse['blockIp']>[0]): Promise<{ blocked: boolean }> {
  const cidr = parseCidr(input.ip);
  if (!cidr) {
    deps.logger.warn({ ip: input.ip, source: input.source }, 'blockIp asked for something that is not an address');
    return { blocked: false };
  }
  if (allowlistEntryFor(deps.config.ipAllowlist, cidr)) return { blocked: false };
  const now = deps.clock.now();
  const changed = await auditedTransaction(deps, async (tx) => {
    await lockBlocks(tx);
    const existing = await activeBlockOf(tx, cidr.text, now);
    if (existing) {
      if (existing.expiresAt === null || existing.expiresAt >= input.expiresAt) return null;
      const [extended] = await tx.update(ipBlocks).set({ expiresAt: input.expiresAt }).where(eq(ipBlocks.id, existing.id)).returning();
      await deps.audit.recordIn(tx, blockAudit(extended!, 'security.ip_blocked', { type: 'system' }, systemOrigin, { extended: true, previousExpiresAt: existing.expiresAt.toISOString() }));
      return extended!;
    }
    const [inserted] = await tx
      .insert(ipBlocks)
      .values({ cidr: cidr.text, reason: input.reason.slice(0, 500), source: input.source.slice(0, 200), incidentId: input.incidentId, createdAt: now, expiresAt: input.expiresAt })
      .returning();
    await deps.audit.recordIn(tx, blockAudit(inserted!, 'security.ip_blocked', { type: 'system' }, systemOrigin, {}));
    return inserted!;
  });
  if (changed) {
    await announceBlocksChanged(deps.bus, 'blocks');
    await alertBlocked(deps, changed);
  }
  return { blocked: true };
}

/** The port's markSuspicious: halves the address's rate limits until `until` (a later flag lengthens it). */
export async function markSuspicious(deps: Deps, input: Parameters<SecurityResponse['markSuspicious']>[0]): Promise<void> {
  const cidr = parseCidr(input.ip);
  // A flag is for one address; an allowlisted one is never acted on automatically.
  if (!cidr || cidr.prefix !== cidr.bytes.length * 8 || allowlistEntryFor(deps.config.ipAllowlist, cidr)) return;
  const now = deps.clock.now();
  await auditedTransaction(deps, async (tx) => {
    await tx
      .insert(ipFlags)
      .values({ ip: cidr.address, reason: input.reason.slice(0, 500), incidentId: input.incidentId, createdAt: now, until: input.until })
      .onConflictDoUpdate({
        target: ipFlags.ip,
        set: {
          reason: sql`excluded.reason`,
          incidentId: sql`excluded.incident_id`,
          // A flag that lapsed starts over; a live one only ever lengthens.
          createdAt: sql`case when ${ipFlags.until} <= ${now.toISOString()}::timestamptz then excluded.created_at else ${ipFlags.createdAt} end`,
          until: sql`greatest(${ipFlags.until}, excluded.until)`,
        },
      });
    await deps.audit.recordIn(tx, {
      action: 'security.ip_flagged',
      outcome: 'success',
      actor: { type: 'system' },
      origin: systemOrigin,
      resource: { type: 'ip_flag', id: cidr.address },
      details: { ip: cidr.address, reason: input.reason.slice(0, 500), until: input.until.toISOString(), incidentId: input.incidentId },
    });
  });
  await announceBlocksChanged(deps.bus, 'flags');
}


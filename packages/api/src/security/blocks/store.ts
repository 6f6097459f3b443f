import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import { ipBlocks, ipFlags, type EventBus, type IpBlock, type Queryable, type Tx } from '@tapevision/db';

/** Tells every process that the active blocks or flags changed: each re-reads them (gate.ts). */
export const IP_BLOCKS_CHANNEL = 'tv_ip_blocks';

// Every blocklist write takes it first, on any process: two blocks of one address at once make one
// active row, not two.
const BLOCKS_LOCK = 7_401_236_152;

export async function lockBlocks(tx: Tx): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${BLOCKS_LOCK})`);
}

/** Not removed and not expired at `now` (the injected clock's, not the database's). */
export const activeAt = (now: Date) => and(isNull(ipBlocks.removedAt), or(isNull(ipBlocks.expiresAt), gt(ipBlocks.expiresAt, now)));

export async function activeBlockOf(db: Queryable, cidr: string, now: Date): Promise<IpBlock | null> {
  const [row] = await db.select().from(ipBlocks).where(and(eq(ipBlocks.cidr, cidr), activeAt(now))).limit(1);
  return row ?? null;
}

export async function readActive(db: Queryable, now: Date): Promise<{ blocks: { cidr: string; expiresAt: Date | null }[]; flags: { ip: string; until: Date }[] }> {
  const blocks = await db.select({ cidr: ipBlocks.cidr, expiresAt: ipBlocks.expiresAt }).from(ipBlocks).where(activeAt(now));
  const flags = await db.select({ ip: ipFlags.ip, until: ipFlags.until }).from(ipFlags).where(gt(ipFlags.until, now));
  return { blocks, flags };
}

/** After the commit: a notice lost while the database is away is covered by each process's timer. */
export async function announceBlocksChanged(bus: EventBus, what: 'blocks' | 'flags'): Promise<void> {
  await bus.publish(IP_BLOCKS_CHANNEL, { what, at: Date.now() });
}

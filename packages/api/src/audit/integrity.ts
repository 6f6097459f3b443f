import { eq, sql } from 'drizzle-orm';
import { auditChains, queryRows, type AuditChain, type Database, type Queryable } from '@tapevision/db';
import { GENESIS_HASH, type LegacySeal } from './chain.ts';
import { hmacHex, macMatches, signingKey, type AuditKeyring } from './keys.ts';

/** What verification checks the log against, from outside the database. */
export interface AuditIntegrity {
  keys: AuditKeyring;
  /** Checkpoint files (DATA_DIR/audit-checkpoints by default); a missing one reads as empty. */
  checkpointFiles: readonly string[];
}

// Same key in every process: two servers starting at once seal once.
const CUT_OVER_LOCK = 7_401_236_118;

type ChainRecord = Pick<AuditChain, 'chainId' | 'anchorSeq' | 'anchorHash' | 'legacySeq' | 'legacyHash'>;

function recordText(c: ChainRecord): string {
  return `audit-chain\n${c.chainId}\n${c.anchorSeq}\n${c.anchorHash}\n${c.legacySeq}\n${c.legacyHash ?? ''}`;
}

/** The signed columns of an audit_chains row: retention and the cut-over set them, nothing else. */
export function signChainRecord(keys: AuditKeyring, record: ChainRecord): { keyId: string; mac: string } {
  const { id, key } = signingKey(keys);
  return { keyId: id, mac: hmacHex(key, recordText(record)) };
}

/**
 * Whether a chain's anchor and legacy seal are ones retention or the cut-over set. A chain that
 * no one signed must still start at the genesis with no keyless rows: that is how writers create it.
 */
export function chainRecordValid(keys: AuditKeyring, chain: AuditChain): boolean {
  if (chain.mac === null) return chain.anchorSeq === 0 && chain.anchorHash === GENESIS_HASH && chain.legacySeq === 0;
  return macMatches(keys, chain.keyId, recordText(chain), chain.mac);
}

export function legacySealOf(chain: Pick<AuditChain, 'legacySeq' | 'legacyHash'>): LegacySeal {
  return { seq: chain.legacySeq, hash: chain.legacyHash };
}

/**
 * The one-time cut-over to the keyed chain: while no chain carries a keyed row or a signed record
 * (the log as it was before the audit key), every chain's rows so far are sealed as keyless, with
 * their head's hash, under the key. Keyless rows anywhere else (appended later, or in a chain made
 * later) then fail verification, so marking a forged row "legacy" does not get around the key.
 */
export async function sealLegacyChains(db: Database, keys: AuditKeyring): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${CUT_OVER_LOCK})`);
    if (await cutOverDone(tx)) return 0;
    const chains = await tx.select().from(auditChains);
    let sealed = 0;
    for (const chain of chains) {
      if (chain.headSeq === 0 && chain.anchorSeq === 0) continue;
      const record = { ...chain, legacySeq: chain.headSeq, legacyHash: chain.headHash };
      await tx
        .update(auditChains)
        .set({ legacySeq: record.legacySeq, legacyHash: record.legacyHash, ...signChainRecord(keys, record) })
        .where(eq(auditChains.chainId, chain.chainId));
      sealed += 1;
    }
    return sealed;
  });
}

// A chain's head row is found through the (chain_id, seq) index: no scan of the log on every start.
async function cutOverDone(db: Queryable): Promise<boolean> {
  const [row] = await queryRows<{ done: boolean }>(
    db,
    sql`select exists (select 1 from audit_chains where mac is not null)
           or exists (select 1 from audit_chains c join audit_logs l on l.chain_id = c.chain_id and l.seq = c.head_seq
                      where l.key_id is not null) as done`,
  );
  return row?.done === true;
}

import { hash as digest } from 'node:crypto';

/**
 * Tamper evidence for the audit log. Each writer (one per server process) keeps its own chain:
 * row n carries seq n and hash = SHA-256(previous hash, canonical content). Several processes can
 * write at once without coordinating, and any changed, deleted or reordered row breaks its chain.
 */
export interface ChainedContent {
  at: string;
  actorType: string;
  actorId: string | null;
  action: string;
  outcome: string;
  severity: string;
  resourceType: string | null;
  resourceId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
}

export interface ChainedRow extends ChainedContent {
  chainId: string;
  seq: number;
  prevHash: string;
  hash: string;
}

/** The hash a chain starts from; a retention cut replaces it with the hash of the last removed row. */
export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every depth, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function rowHash(prevHash: string, chainId: string, seq: number, content: ChainedContent): string {
  // One-shot hashing: no Hash object per row on the writer's hot path.
  return digest('sha256', `${prevHash}\n${canonicalRow(chainId, seq, content)}`, 'hex');
}

/**
 * canonicalJson({ chainId, seq, ...content }) written out with the keys already in sorted order:
 * the same text, without sorting a dozen keys for every row the writer chains (its hot path).
 */
export function canonicalRow(chainId: string, seq: number, c: ChainedContent): string {
  const s = (v: string | null) => (v === null || v === undefined ? 'null' : JSON.stringify(v));
  return (
    `{"action":${s(c.action)},"actorId":${s(c.actorId)},"actorType":${s(c.actorType)},"at":${s(c.at)},` +
    `"chainId":${s(chainId)},"details":${canonicalJson(c.details)},"ip":${s(c.ip)},"outcome":${s(c.outcome)},` +
    `"requestId":${s(c.requestId)},"resourceId":${s(c.resourceId)},"resourceType":${s(c.resourceType)},` +
    `"seq":${JSON.stringify(seq)},"severity":${s(c.severity)},"userAgent":${s(c.userAgent)}}`
  );
}

/** Appends rows to a chain in memory: the writer's side. */
export function createChainCursor(chainId: string, start: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }) {
  let seq = start.seq;
  let hash = start.hash;
  return {
    chainId,
    next(content: ChainedContent): ChainedRow {
      seq += 1;
      const prevHash = hash;
      hash = rowHash(prevHash, chainId, seq, content);
      return { ...content, chainId, seq, prevHash, hash };
    },
    get position() {
      return { seq, hash };
    },
  };
}

export type ChainBreak =
  | { kind: 'changed'; chainId: string; seq: number }
  | { kind: 'missing'; chainId: string; expectedSeq: number; foundSeq: number }
  | { kind: 'relinked'; chainId: string; seq: number };

/**
 * Verifies one chain's rows, given in seq order, from an anchor (the genesis, or the retention
 * cut). Returns the first break: a row whose content no longer matches its hash ("changed"), a gap
 * in the sequence ("missing": deleted or reordered rows), or a row whose prevHash does not point at
 * its predecessor ("relinked").
 */
export function verifyChain(
  rows: Iterable<ChainedRow>,
  anchor: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
): ChainBreak | null {
  let expectedSeq = anchor.seq + 1;
  let prevHash = anchor.hash;
  for (const row of rows) {
    if (row.seq !== expectedSeq) return { kind: 'missing', chainId: row.chainId, expectedSeq, foundSeq: row.seq };
    if (row.prevHash !== prevHash) return { kind: 'relinked', chainId: row.chainId, seq: row.seq };
    const { chainId, seq, prevHash: _p, hash, ...content } = row;
    if (rowHash(prevHash, chainId, seq, content) !== hash) return { kind: 'changed', chainId, seq };
    prevHash = hash;
    expectedSeq += 1;
  }
  return null;
}

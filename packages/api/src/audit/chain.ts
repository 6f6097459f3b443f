import { hash as digest } from 'node:crypto';
import { hmacHex, type AuditKeyring, type SigningKey } from './keys.ts';

/**
 * Tamper evidence for the audit log. Each writer (one per server process) keeps its own chain:
 * row n carries seq n and hash = HMAC-SHA256 under the audit key (its id in key_id) of the previous
 * hash and the canonical content. Several processes can write at once without coordinating, any
 * changed, deleted or reordered row breaks its chain, and without the key no row can be re-hashed.
 * Rows written before the key (key_id null) were plain SHA-256; the cut-over sealed them.
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
  /** The audit key entry that signed the row; null for a row chained with plain SHA-256 before the key. */
  keyId: string | null;
}

/** Where a chain's keyless rows end: rows up to `seq` may be plain SHA-256, and row `seq` hashes to `hash`. */
export interface LegacySeal {
  seq: number;
  hash: string | null;
}

export const NO_LEGACY: LegacySeal = { seq: 0, hash: null };

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

/** HMAC-SHA256 under `key`; with `null`, the plain SHA-256 rows had before the audit key. */
export function rowHash(prevHash: string, chainId: string, seq: number, content: ChainedContent, key: Buffer | null): string {
  const text = `${prevHash}\n${canonicalRow(chainId, seq, content)}`;
  // One-shot hashing for legacy rows: no Hash object per row.
  return key ? hmacHex(key, text) : digest('sha256', text, 'hex');
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

/** Appends rows to a chain in memory, signed with `key`: the writer's side. */
export function createChainCursor(chainId: string, key: SigningKey, start: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }) {
  let seq = start.seq;
  let hash = start.hash;
  return {
    chainId,
    next(content: ChainedContent): ChainedRow {
      seq += 1;
      const prevHash = hash;
      hash = rowHash(prevHash, chainId, seq, content, key.key);
      return { ...content, chainId, seq, prevHash, hash, keyId: key.id };
    },
    get position() {
      return { seq, hash };
    },
  };
}

export type ChainBreak =
  | { kind: 'changed'; chainId: string; seq: number }
  | { kind: 'missing'; chainId: string; expectedSeq: number; foundSeq: number }
  | { kind: 'relinked'; chainId: string; seq: number }
  /** A keyless (plain SHA-256) row where only keyed rows belong: after the chain's seal, or in a chain never sealed. */
  | { kind: 'unkeyed'; chainId: string; seq: number }
  /** A row signed with a key id the audit keyring does not hold. */
  | { kind: 'unverifiable'; chainId: string; seq: number; keyId: string };

/**
 * Verifies one chain's rows, given in seq order, from an anchor (the genesis, or the retention
 * cut), against the audit keyring. Returns the first break: a row whose content no longer matches
 * its hash ("changed"), a gap in the sequence ("missing": deleted or reordered rows), a row whose
 * prevHash does not point at its predecessor ("relinked"), a keyless row past the chain's legacy
 * seal ("unkeyed": a keyless row is accepted only where the cut-over sealed one), or a row signed
 * by a key the ring lacks ("unverifiable").
 */
export function verifyChain(
  rows: Iterable<ChainedRow>,
  keys: AuditKeyring,
  anchor: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
  legacy: LegacySeal = NO_LEGACY,
): ChainBreak | null {
  let expectedSeq = anchor.seq + 1;
  let prevHash = anchor.hash;
  for (const row of rows) {
    if (row.seq !== expectedSeq) return { kind: 'missing', chainId: row.chainId, expectedSeq, foundSeq: row.seq };
    if (row.prevHash !== prevHash) return { kind: 'relinked', chainId: row.chainId, seq: row.seq };
    const { chainId, seq, prevHash: _p, hash, keyId, ...content } = row;
    let key: Buffer | null = null;
    if (keyId === null || keyId === undefined) {
      if (seq > legacy.seq) return { kind: 'unkeyed', chainId, seq };
    } else {
      key = keys.keys.get(keyId) ?? null;
      if (!key) return { kind: 'unverifiable', chainId, seq, keyId };
    }
    if (rowHash(prevHash, chainId, seq, content, key) !== hash) return { kind: 'changed', chainId, seq };
    // The sealed legacy head pins every keyless row before it: they cannot be re-hashed to match.
    if (seq === legacy.seq && hash !== legacy.hash) return { kind: 'changed', chainId, seq };
    prevHash = hash;
    expectedSeq += 1;
  }
  return null;
}

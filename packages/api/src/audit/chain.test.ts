import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson, createChainCursor, GENESIS_HASH, verifyChain, type ChainedContent, type ChainedRow, canonicalRow } from './chain.ts';

const KEY = { id: 'k1', key: randomBytes(32) };
const keys = { activeKeyId: 'k1', keys: new Map([['k1', KEY.key]]) };

function content(i: number): ChainedContent {
  return {
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    actorType: 'user',
    actorId: `u${i}`,
    action: 'auth.login',
    outcome: 'success',
    severity: 'LOW',
    resourceType: null,
    resourceId: null,
    ip: '127.0.0.1',
    userAgent: null,
    requestId: `r${i}`,
    details: { n: i, nested: { b: 1, a: [1, 2] } },
  };
}

function chain(n: number): ChainedRow[] {
  const cursor = createChainCursor('writer-a', KEY);
  return Array.from({ length: n }, (_, i) => cursor.next(content(i)));
}

describe('audit hash chain', () => {
  it('hashes content independently of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
  });

  it('verifies an untouched chain', () => {
    const rows = chain(5);
    expect(rows[0]?.prevHash).toBe(GENESIS_HASH);
    expect(rows[1]?.prevHash).toBe(rows[0]?.hash);
    expect(verifyChain(rows, keys)).toBeNull();
  });

  it('finds a changed row', () => {
    const rows = chain(5);
    rows[2] = { ...rows[2]!, outcome: 'failure' };
    expect(verifyChain(rows, keys)).toEqual({ kind: 'changed', chainId: 'writer-a', seq: 3 });
  });

  it('finds a changed nested detail', () => {
    const rows = chain(3);
    rows[1] = { ...rows[1]!, details: { n: 1, nested: { b: 2, a: [1, 2] } } };
    expect(verifyChain(rows, keys)).toEqual({ kind: 'changed', chainId: 'writer-a', seq: 2 });
  });

  it('finds a deleted row', () => {
    const rows = chain(5);
    rows.splice(1, 1);
    expect(verifyChain(rows, keys)).toEqual({ kind: 'missing', chainId: 'writer-a', expectedSeq: 2, foundSeq: 3 });
  });

  it('finds reordered rows', () => {
    const rows = chain(4);
    [rows[1], rows[2]] = [rows[2]!, rows[1]!];
    expect(verifyChain(rows, keys)).toMatchObject({ kind: 'missing', expectedSeq: 2, foundSeq: 3 });
  });

  it('finds a row re-hashed to hide a change but not relinked', () => {
    const rows = chain(4);
    const forged = createChainCursor('writer-a', KEY, { seq: 1, hash: 'f'.repeat(64) }).next({ ...content(1), outcome: 'failure' });
    rows[1] = forged;
    expect(verifyChain(rows, keys)).toEqual({ kind: 'relinked', chainId: 'writer-a', seq: 2 });
  });

  it('signs rows with the key: re-hashed with plain SHA-256 or another key, a row no longer verifies', () => {
    const rows = chain(3);
    expect(rows.every((r) => r.keyId === 'k1')).toBe(true);
    const other = createChainCursor('writer-a', { id: 'k1', key: randomBytes(32) }).next(content(0));
    expect(verifyChain([other, ...rows.slice(1)], keys)).toEqual({ kind: 'changed', chainId: 'writer-a', seq: 1 });
    const plain = { ...rows[0]!, keyId: null, hash: createHash('sha256').update(`${GENESIS_HASH}\n${canonicalRow('writer-a', 1, content(0))}`).digest('hex') };
    expect(verifyChain([plain], keys)).toEqual({ kind: 'unkeyed', chainId: 'writer-a', seq: 1 });
    // Accepted only where a legacy seal covers it, with the sealed head's hash.
    expect(verifyChain([plain], keys, undefined, { seq: 1, hash: plain.hash })).toBeNull();
    expect(verifyChain([plain], keys, undefined, { seq: 1, hash: 'e'.repeat(64) })).toEqual({ kind: 'changed', chainId: 'writer-a', seq: 1 });
    expect(verifyChain(rows, { activeKeyId: 'k2', keys: new Map([['k2', randomBytes(32)]]) })).toEqual({
      kind: 'unverifiable',
      chainId: 'writer-a',
      seq: 1,
      keyId: 'k1',
    });
  });

  it('verifies what remains after a retention cut from its anchor', () => {
    const rows = chain(6);
    const cut = rows[2]!;
    const rest = rows.slice(3);
    expect(verifyChain(rest, keys)).not.toBeNull();
    expect(verifyChain(rest, keys, { seq: cut.seq, hash: cut.hash })).toBeNull();
  });
});

describe('canonicalRow', () => {
  it('writes exactly what canonicalJson writes for the same row', () => {
    const content = {
      at: '2026-11-23T10:00:00.000Z',
      actorType: 'user',
      actorId: 'Ünïcode "quoted"',
      action: 'auth.login',
      outcome: 'success',
      severity: 'LOW',
      resourceType: null,
      resourceId: 'r\n1',
      ip: '192.0.2.1',
      userAgent: null,
      requestId: 'req-1',
      details: { z: 1, a: [{ y: null, b: 'x' }], Upper: true },
    };
    expect(canonicalRow('chain-1', 42, content)).toBe(canonicalJson({ chainId: 'chain-1', seq: 42, ...content }));
  });
});

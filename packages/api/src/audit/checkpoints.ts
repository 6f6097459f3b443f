import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { auditChains, type Database } from '@tapevision/db';
import type { Logger } from 'pino';
import type { Clock } from '../deps.ts';
import { canonicalJson, GENESIS_HASH } from './chain.ts';
import { hmacHex, macMatches, signingKey, type AuditKeyring } from './keys.ts';

/**
 * Signed checkpoints of the chains' heads, kept outside the database: a line appended to
 * DATA_DIR/audit-checkpoints (and logged, for shipping to a log store) every few minutes and at
 * shutdown. Each line names the chains whose heads moved (every chain, in a process's first line)
 * with their seq and hash, links to the MAC of the line before it, and is MACed under the audit
 * key. Someone who can only write to the database can then not delete a chain or cut off its
 * newest rows (and lower audit_chains' head to match) without a checkpoint naming what is gone.
 */
export const CHECKPOINT_FILE = 'audit-checkpoints';
// A backstop only: with the database away its own timeouts and breaker fail the read within about
// a second. 3 s proved too short for a loaded machine's shutdown (CI's Postgres pass).
const SHUTDOWN_WAIT_MS = 10_000;

export interface CheckpointHead {
  chainId: string;
  seq: number;
  hash: string;
}

export interface Checkpoint {
  v: 1;
  at: string;
  /** The chain of the process that wrote it. */
  writer: string | null;
  chains: CheckpointHead[];
  /** The MAC of the line before it in the file (the genesis hash for the first). */
  prev: string;
  kid: string;
  mac: string;
}

function macText(c: Omit<Checkpoint, 'mac'>): string {
  return canonicalJson({ v: c.v, at: c.at, writer: c.writer, chains: c.chains, prev: c.prev, kid: c.kid });
}

// A line cut off by a crash mid-append is never linked to: the next line links to the last whole one.
function parseLine(text: string): Checkpoint | null {
  try {
    const c = JSON.parse(text) as Checkpoint;
    const heads = Array.isArray(c.chains) && c.chains.every((h) => typeof h?.chainId === 'string' && Number.isSafeInteger(h.seq) && typeof h.hash === 'string');
    if (c.v !== 1 || typeof c.at !== 'string' || !heads || typeof c.prev !== 'string' || typeof c.kid !== 'string' || typeof c.mac !== 'string') return null;
    return c;
  } catch {
    return null;
  }
}

/** The last whole, parseable line's MAC, read backwards from the end (the file only grows). */
function lastMac(file: string): { mac: string; endsWithNewline: boolean } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { mac: GENESIS_HASH, endsWithNewline: true };
    throw err;
  }
  try {
    const size = statSync(file).size;
    if (size === 0) return { mac: GENESIS_HASH, endsWithNewline: true };
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    let end = size;
    let tail = Buffer.alloc(0);
    const CHUNK = 64 * 1024;
    while (end > 0) {
      const start = Math.max(0, end - CHUNK);
      const chunk = Buffer.alloc(end - start);
      readSync(fd, chunk, 0, chunk.length, start);
      tail = Buffer.concat([chunk, tail]);
      end = start;
      const lines = tail.toString('utf8').split('\n');
      // The first piece may be a partial line unless the whole file has been read.
      const whole = end === 0 ? lines : lines.slice(1);
      // The last piece is what follows the final newline: whole only if it is empty.
      for (let i = whole.length - 2; i >= 0; i--) {
        const parsed = parseLine(whole[i]!);
        if (parsed) return { mac: parsed.mac, endsWithNewline: last[0] === 0x0a };
      }
    }
    return { mac: GENESIS_HASH, endsWithNewline: last[0] === 0x0a };
  } finally {
    closeSync(fd);
  }
}

// Several processes may share DATA_DIR (on one Postgres): reading the last line and appending the
// next must not interleave, or two lines would link to the same predecessor.
async function withLock<T>(file: string, fn: () => T): Promise<T> {
  const lock = `${file}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        // A holder that died mid-append never takes more than a moment.
        if (Date.now() - statSync(lock).mtimeMs > 10_000) unlinkSync(lock);
      } catch {
        /* gone meanwhile */
      }
      if (attempt > 200) throw new Error('audit checkpoint file is locked');
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      /* already removed */
    }
  }
}

export interface CheckpointWriter {
  /** Appends a checkpoint of the heads that moved since this process's last one; null when none did. */
  writeNow(): Promise<Checkpoint | null>;
  /** Stops the timer and writes a last checkpoint (after the audit writer has flushed). */
  stop(): Promise<void>;
}

export function startAuditCheckpoints(deps: {
  db: Database;
  keys: AuditKeyring;
  file: string;
  logger: Logger;
  clock: Clock;
  /** The chain of this process's audit writer, named in each line. */
  writer: string | null;
  intervalMs: number;
}): CheckpointWriter {
  const written = new Map<string, number>();
  let first = true;
  let running: Promise<Checkpoint | null> = Promise.resolve(null);

  async function write(force: boolean): Promise<Checkpoint | null> {
    const heads = await deps.db
      .select({ chainId: auditChains.chainId, seq: auditChains.headSeq, hash: auditChains.headHash })
      .from(auditChains)
      .orderBy(auditChains.chainId);
    const moved = heads.filter((h) => h.seq > 0 && written.get(h.chainId) !== h.seq);
    if (moved.length === 0 && !first && !force) return null;
    mkdirSync(path.dirname(deps.file), { recursive: true });
    const line = await withLock(deps.file, () => {
      const previous = lastMac(deps.file);
      const { id, key } = signingKey(deps.keys);
      const body = { v: 1 as const, at: deps.clock.now().toISOString(), writer: deps.writer, chains: moved, prev: previous.mac, kid: id };
      const checkpoint: Checkpoint = { ...body, mac: hmacHex(key, macText(body)) };
      const fd = openSync(deps.file, 'a', 0o600);
      try {
        writeSync(fd, `${previous.endsWithNewline ? '' : '\n'}${JSON.stringify(checkpoint)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      return checkpoint;
    });
    first = false;
    for (const h of moved) written.set(h.chainId, h.seq);
    // The same line for the log store: a copy out of reach of whoever can write to DATA_DIR too.
    deps.logger.info({ auditCheckpoint: line }, 'audit checkpoint');
    return line;
  }

  // One at a time: the timer and shutdown never race each other.
  const writeNow = (force = false) => {
    running = running.catch(() => null).then(() => write(force));
    return running;
  };
  const timer = setInterval(() => {
    writeNow().catch((err: unknown) => deps.logger.error({ err }, 'audit checkpoint failed'));
  }, deps.intervalMs);
  timer.unref();
  return {
    writeNow: () => writeNow(),
    async stop() {
      clearInterval(timer);
      // Always a line at shutdown, moved or not: the file shows when each process stopped. With the
      // database away, reading the heads could wait for it: shutdown does not.
      const done = writeNow(true).then(
        () => true,
        (err: unknown) => {
          deps.logger.error({ err }, 'audit checkpoint at shutdown failed');
          return true;
        },
      );
      const wrote = await Promise.race([done, new Promise<boolean>((r) => setTimeout(() => r(false), SHUTDOWN_WAIT_MS).unref())]);
      if (!wrote) deps.logger.error('audit checkpoint at shutdown gave up: the database did not answer');
    },
  };
}

export interface CheckpointProblem {
  file: string;
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface CheckpointPins {
  /** Per chain, the highest head any valid checkpoint recorded. */
  heads: Map<string, CheckpointHead & { at: string }>;
  lines: number;
  /** The first bad line of each file. */
  problems: CheckpointProblem[];
}

/**
 * Reads checkpoint files and checks each line's MAC and its link to the line before. Every line
 * whose MAC holds pins its heads (a valid MAC is the key holder's word), and the first line per
 * file that fails is reported. A missing file reads as empty; a last line without its newline is
 * one being written and is skipped.
 */
export function readCheckpoints(keys: AuditKeyring, files: readonly string[]): CheckpointPins {
  const heads: CheckpointPins['heads'] = new Map();
  const problems: CheckpointProblem[] = [];
  let count = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const lines = text.split('\n');
    lines.pop(); // what follows the last newline: empty, or a line still being written
    let prev = GENESIS_HASH;
    let problem: CheckpointProblem | null = null;
    lines.forEach((raw, index) => {
      if (raw === '') return;
      const at = { file, line: index + 1 };
      const c = parseLine(raw);
      if (!c) {
        problem ??= { ...at, message: `checkpoint line ${at.line} of ${file} is not a checkpoint` };
        return;
      }
      count += 1;
      const { mac, ...body } = c;
      if (!macMatches(keys, c.kid, macText(body), mac)) {
        problem ??= keys.keys.has(c.kid)
          ? { ...at, message: `checkpoint line ${at.line} of ${file} was changed: its MAC does not match` }
          : { ...at, message: `checkpoint line ${at.line} of ${file} is signed with key id ${c.kid}, which the audit key does not hold` };
        prev = c.mac;
        return;
      }
      if (c.prev !== prev) problem ??= { ...at, message: `checkpoint line ${at.line} of ${file} does not link to the line before it: checkpoints were removed or reordered` };
      prev = c.mac;
      for (const h of c.chains) {
        const known = heads.get(h.chainId);
        if (!known || known.seq < h.seq) heads.set(h.chainId, { ...h, at: c.at });
      }
    });
    if (problem) problems.push(problem);
  }
  return { heads, lines: count, problems };
}

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';

// Tells this process's locks from those of an earlier process that had the same pid (a container
// restarted as pid 1): those are orphans, however alive their pid looks.
const BOOT_ID = randomUUID();

/**
 * The audit writer's overflow: an append-only NDJSON file per chain under DATA_DIR/audit-spool,
 * written while the database refuses rows or the memory queue is full, and drained in order once
 * the database is back. Files of a process that died with rows still spooled are adopted by the
 * next writer that starts on the same directory.
 */
export interface Spool {
  /** Appends rows in order; `sync` forces them to disk before returning (HIGH and CRITICAL rows). */
  append(rows: readonly unknown[], sync: boolean): void;
  /** Whether this chain's active file holds rows not yet handed to a drain. */
  hasActive(): boolean;
  /** Closes the active file and returns it for draining, with any adopted orphans first. */
  takeFiles(): string[];
  /** Reads a taken file in chunks of at most `size` rows. */
  read<T>(file: string, size: number): AsyncGenerator<T[]>;
  /** The file was written to the database: delete it. */
  done(file: string): void;
  /** Sets rows the database rejects outright aside, so they are kept but no longer retried. */
  reject(row: unknown): void;
  release(): void;
}

export function openSpool(dir: string, chainId: string): Spool {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lockFile = path.join(dir, `${chainId}.lock`);
  writeFileSync(lockFile, `${process.pid}:${BOOT_ID}`, { mode: 0o600 });
  const activeFile = path.join(dir, `${chainId}.ndjson`);
  let fd: number | null = null;
  let drains = 0;
  const pending = adoptOrphans(dir, chainId);

  function closeActive() {
    if (fd !== null) closeSync(fd);
    fd = null;
  }

  return {
    append(rows, sync) {
      fd ??= openSync(activeFile, 'a', 0o600);
      writeSync(fd, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      if (sync) fsyncSync(fd);
    },
    hasActive: () => existsSync(activeFile),
    takeFiles() {
      if (existsSync(activeFile)) {
        closeActive();
        const draining = path.join(dir, `${chainId}.${String(process.hrtime.bigint()).padStart(20, '0')}-${String(++drains).padStart(6, '0')}.draining`);
        renameSync(activeFile, draining);
        pending.push(draining);
      }
      return pending.splice(0);
    },
    async *read<T>(file: string, size: number) {
      const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
      let chunk: T[] = [];
      for await (const line of lines) {
        if (!line) continue;
        try {
          chunk.push(JSON.parse(line) as T);
        } catch {
          // A torn last line from a crash mid-append: the row was never acknowledged to anyone.
          continue;
        }
        if (chunk.length >= size) {
          yield chunk;
          chunk = [];
        }
      }
      if (chunk.length) yield chunk;
    },
    done(file) {
      rmSync(file, { force: true });
    },
    reject(row) {
      writeFileSync(path.join(dir, 'rejected.jsonl'), `${JSON.stringify(row)}\n`, { flag: 'a', mode: 0o600 });
    },
    release() {
      closeActive();
      rmSync(lockFile, { force: true });
    },
  };
}

// Another writer's files are orphans once its process is gone (its lock names a dead pid).
function adoptOrphans(dir: string, ownChain: string): string[] {
  // Per chain: drained-but-unfinished files (oldest rows) before its active file.
  const files = readdirSync(dir).sort((a, b) => {
    const rank = (n: string) => `${n.split('.')[0]}\u0000${n.endsWith('.ndjson') ? 1 : 0}\u0000${n}`;
    return rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0;
  });
  const adopted: string[] = [];
  for (const name of files) {
    if (!name.endsWith('.ndjson') && !name.endsWith('.draining')) continue;
    const owner = name.split('.')[0];
    if (owner === ownChain) continue;
    const lock = path.join(dir, `${owner}.lock`);
    if (existsSync(lock) && isAlive(readFileSync(lock, 'utf8'))) continue;
    const claimed = path.join(dir, `${ownChain}.adopted-${String(adopted.length).padStart(6, '0')}-${name.replace(/\./g, '_')}.draining`);
    try {
      renameSync(path.join(dir, name), claimed);
      adopted.push(claimed);
    } catch {
      // Another starting writer claimed it first.
    }
  }
  for (const name of files) {
    const match = /^(.+)\.lock$/.exec(name);
    if (match && match[1] !== ownChain && !isAlive(readFileSync(path.join(dir, name), 'utf8'))) {
      rmSync(path.join(dir, name), { force: true });
    }
  }
  return adopted;
}

function isAlive(lock: string): boolean {
  const [pidText, bootId] = lock.trim().split(':');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return bootId === BOOT_ID;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

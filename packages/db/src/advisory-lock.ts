import type { Sql } from 'postgres';

/** A session-level advisory lock held on a connection of its own, until released or lost. */
export interface HeldLock {
  /** Resolves true while the holding connection still answers; false once it is gone (lock lost). */
  check(): Promise<boolean>;
  release(): Promise<void>;
}

/**
 * Takes `pg_try_advisory_lock(key)` on a reserved connection, so the lock lives exactly as long
 * as that connection: if this process dies, Postgres drops the session and the lock with it.
 * Resolves null when another session holds it.
 */
export async function tryAdvisoryLock(client: Sql, key: number): Promise<HeldLock | null> {
  const reserved = await client.reserve();
  let released = false;
  try {
    const [row] = await reserved<{ locked: boolean }[]>`select pg_try_advisory_lock(${key}) as locked`;
    if (!row?.locked) {
      released = true;
      reserved.release();
      return null;
    }
  } catch (err) {
    reserved.release();
    throw err;
  }
  return {
    async check() {
      if (released) return false;
      try {
        await reserved`select 1`;
        return true;
      } catch {
        return false;
      }
    },
    async release() {
      if (released) return;
      released = true;
      try {
        await reserved`select pg_advisory_unlock(${key})`;
      } catch {
        // The session is gone already, and its locks with it.
      } finally {
        reserved.release();
      }
    },
  };
}

/** The embedded database lives in one process, which is therefore always the holder. */
export function localLock(): HeldLock {
  let released = false;
  return {
    check: async () => !released,
    release: async () => {
      released = true;
    },
  };
}

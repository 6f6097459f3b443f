import { describe, expect, it } from 'vitest';
import { createRefreshCoordinator, REFRESH_LOCK_NAME, type LockRequester } from './refresh.ts';
import { localExpiry } from './token-store.ts';

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An in-memory stand-in for navigator.locks: one holder per name, the rest queue. */
function fakeLocks() {
  const tails = new Map<string, Promise<unknown>>();
  const requested: string[] = [];
  const locks: LockRequester = {
    request<T>(name: string, task: () => Promise<T>): Promise<T> {
      requested.push(name);
      const previous = tails.get(name) ?? Promise.resolve();
      const run = previous.then(task, task);
      tails.set(name, run.catch(() => undefined));
      return run;
    },
  };
  return { locks, requested };
}

describe('refresh coordinator', () => {
  it('shares one refresh between concurrent callers in a tab', async () => {
    let calls = 0;
    const gate = deferred<string>();
    const refresh = createRefreshCoordinator(() => {
      calls += 1;
      return gate.promise;
    }, null);
    const a = refresh();
    const b = refresh();
    gate.resolve('token-1');
    expect(await a).toBe('token-1');
    expect(await b).toBe('token-1');
    expect(calls).toBe(1);
  });

  it('starts a new refresh once the previous one has settled, even after a failure', async () => {
    let calls = 0;
    const refresh = createRefreshCoordinator(async () => {
      calls += 1;
      if (calls === 1) throw new Error('offline');
      return `token-${calls}`;
    }, null);
    await expect(refresh()).rejects.toThrow('offline');
    expect(await refresh()).toBe('token-2');
    expect(calls).toBe(2);
  });

  it('runs under the tapevision-refresh lock, so two tabs never refresh at once', async () => {
    const { locks, requested } = fakeLocks();
    let active = 0;
    let maxActive = 0;
    const slow = async (label: string) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 10));
      active -= 1;
      return label;
    };
    // Two coordinators stand for two tabs sharing the browser's lock manager.
    const tabA = createRefreshCoordinator(() => slow('a'), locks);
    const tabB = createRefreshCoordinator(() => slow('b'), locks);
    expect(await Promise.all([tabA(), tabB(), tabA()])).toEqual(['a', 'b', 'a']);
    expect(maxActive).toBe(1);
    expect(requested).toEqual([REFRESH_LOCK_NAME, REFRESH_LOCK_NAME]);
  });
});

describe('localExpiry', () => {
  const jwt = (payload: object) => `x.${btoa(JSON.stringify(payload)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}.y`;

  it('adds the token lifetime (exp - iat) to the moment it arrived, ignoring clock skew', () => {
    const token = jwt({ iat: 1_000, exp: 1_600 });
    expect(localExpiry(token, '2001-01-01T00:00:00.000Z', 50_000)).toBe(50_000 + 600_000);
  });

  it('falls back to the server timestamp for a token it cannot read', () => {
    expect(localExpiry('not-a-jwt', '2030-01-01T00:00:00.000Z', 0)).toBe(Date.parse('2030-01-01T00:00:00.000Z'));
  });
});

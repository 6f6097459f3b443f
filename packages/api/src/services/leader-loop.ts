import type { DatabaseHandle, EventBus, HeldLock } from '@tapevision/db';
import type { Logger } from 'pino';

/** What a process does while it holds a leader lock. */
export interface LeaderRole {
  /** The lock was just taken. */
  lead(): void | Promise<void>;
  /** Each step while leading: after a notice on a watched channel, and on the timer. */
  tick(): Promise<void>;
  /** The lock is being given up (lost, or the process stops): stop everything `lead` began. */
  stepDown(): Promise<void>;
}

export interface LeaderLoopOptions {
  name: string;
  database: Pick<DatabaseHandle, 'tryLock'>;
  lockKey: number;
  bus: EventBus;
  /** Bus channels whose notices trigger a step. */
  channels: readonly string[];
  /** How often a follower tries for the lock, and the leader checks it still holds it and ticks. */
  retryMs: number;
  logger: Pick<Logger, 'info' | 'warn'>;
  role: LeaderRole;
}

export interface LeaderLoop {
  start(): Promise<void>;
  /** Steps down (if leading) and gives up the lock, so another process takes over. */
  stop(): Promise<void>;
  readonly leading: boolean;
}

/**
 * Exactly one process plays a role at a time: whichever holds a Postgres advisory lock (on
 * PGlite, the one process). The others retry on a timer; a leader whose lock connection died
 * steps down. Steps run one at a time, and any number of notices while one runs make one more.
 */
const STOP_WAIT_MS = 5_000;

/** True when `promise` settles within `ms`; it is left to settle on its own otherwise. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createLeaderLoop(opts: LeaderLoopOptions): LeaderLoop {
  let lock: HeldLock | null = null;
  let stopped = false;
  let queued = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const unsubscribes: (() => void)[] = [];
  let chain: Promise<void> = Promise.resolve();

  async function release(reason: string | null) {
    await opts.role.stepDown();
    await lock?.release();
    lock = null;
    if (reason) opts.logger.warn({ reason }, `${opts.name}: this process no longer leads`);
  }

  async function step() {
    queued = false;
    if (stopped) return;
    if (!lock) {
      const held = await opts.database.tryLock(opts.lockKey);
      if (!held) return;
      if (stopped) return held.release();
      lock = held;
      await opts.role.lead();
      opts.logger.info(`${opts.name}: this process leads`);
    } else if (!(await lock.check())) {
      return release('lock connection lost');
    }
    await opts.role.tick();
  }

  function schedule(): Promise<void> {
    if (queued || stopped) return chain;
    queued = true;
    chain = chain.then(step).catch((err: unknown) => opts.logger.warn({ err }, `${opts.name}: step failed`));
    return chain;
  }

  return {
    async start() {
      for (const channel of opts.channels) unsubscribes.push(await opts.bus.subscribe(channel, () => void schedule()));
      timer = setInterval(() => void schedule(), opts.retryMs);
      timer.unref();
      await schedule();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      for (const unsubscribe of unsubscribes.splice(0)) unsubscribe();
      // A step stuck on a database that no longer answers must not hold up shutdown: the lock
      // goes with the connection anyway.
      if (!(await settlesWithin(chain, STOP_WAIT_MS))) opts.logger.warn(`${opts.name}: a step still running at shutdown was left behind`);
      if (lock) await settlesWithin(release(null), STOP_WAIT_MS);
    },
    get leading() {
      return lock !== null;
    },
  };
}

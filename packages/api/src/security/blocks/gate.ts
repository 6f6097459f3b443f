import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Database, EventBus } from '@tapevision/db';
import type { Clock } from '../../deps.ts';
import { parseCidr } from './cidr.ts';
import { IP_BLOCKS_CHANNEL, readActive } from './store.ts';

/** Re-read this often even without a notice: a notice lost while the database was away. */
const DEFAULT_REFRESH_MS = 30_000;

export interface IpGate {
  /** Whether any block is held at all: with none, the request path skips even reading the client address. */
  blocking(): boolean;
  /** Whether the client address is blocked now: memory only, the request path's one check. */
  isBlocked(ip: string | null): boolean;
  /** 0.5 for an address flagged as suspicious (until its flag lapses), else 1. */
  limitFactor(ip: string | null): number;
  /** Runs after every re-read, so the server can close sockets from addresses just blocked. */
  onChange(listener: () => void): void;
  /** Re-reads the active blocks and flags now. */
  refresh(): Promise<void>;
  start(): Promise<void>;
  stop(): void;
}

/**
 * This process's copy of the active blocks (a net.BlockList) and flags. Loaded at start, re-read
 * when the bus says they changed (any process) and every 30 s; expiry is checked against the
 * injected clock on each lookup, so a block lapses at its moment without a re-read.
 */
export function createIpGate(opts: { db: Database; bus: EventBus; clock: Clock; logger: Logger; refreshMs?: number }): IpGate {
  let blocks: { cidr: string; expiresAt: number | null }[] = [];
  let list: BlockList | null = null;
  let nextExpiry = Infinity;
  let flags = new Map<string, number>();
  const listeners: (() => void)[] = [];
  let unsubscribe: (() => void) | null = null;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;

  function rebuild(now: number) {
    blocks = blocks.filter((b) => b.expiresAt === null || b.expiresAt > now);
    nextExpiry = Math.min(Infinity, ...blocks.map((b) => b.expiresAt ?? Infinity));
    if (blocks.length === 0) {
      list = null;
      return;
    }
    const next = new BlockList();
    for (const b of blocks) {
      const c = parseCidr(b.cidr);
      if (c) next.addSubnet(c.address, c.prefix, c.family === 4 ? 'ipv4' : 'ipv6');
    }
    list = next;
  }

  async function load() {
    const now = opts.clock.now();
    const active = await readActive(opts.db, now);
    blocks = active.blocks.map((b) => ({ cidr: b.cidr, expiresAt: b.expiresAt?.getTime() ?? null }));
    flags = new Map(active.flags.map((f) => [f.ip, f.until.getTime()]));
    rebuild(now.getTime());
    for (const listener of listeners) {
      try {
        listener();
      } catch (err) {
        opts.logger.warn({ err }, 'blocklist change listener failed');
      }
    }
  }

  // One read at a time; a notice during a read asks for one more, so the last change is never missed.
  function refresh(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await load();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  }

  const refreshLogged = () =>
    void refresh().catch((err: unknown) => opts.logger.warn({ err }, 'could not re-read the blocklist; keeping the last copy'));

  return {
    blocking: () => list !== null,
    isBlocked(ip) {
      if (list === null || ip === null) return false;
      const now = opts.clock.now().getTime();
      if (now >= nextExpiry) {
        rebuild(now);
        if (list === null) return false;
      }
      const family = isIP(ip);
      // BlockList matches IPv4 rules against '::ffff:a.b.c.d' itself.
      return family !== 0 && (list as BlockList).check(ip, family === 4 ? 'ipv4' : 'ipv6');
    },
    limitFactor(ip) {
      if (flags.size === 0 || ip === null) return 1;
      const address = parseCidr(ip)?.address;
      const until = address === undefined ? undefined : flags.get(address);
      return until !== undefined && until > opts.clock.now().getTime() ? 0.5 : 1;
    },
    onChange(listener) {
      listeners.push(listener);
    },
    refresh,
    async start() {
      unsubscribe = await opts.bus.subscribe(IP_BLOCKS_CHANNEL, refreshLogged);
      await refresh();
      timer = setInterval(refreshLogged, opts.refreshMs ?? DEFAULT_REFRESH_MS);
      timer.unref();
    },
    stop() {
      unsubscribe?.();
      unsubscribe = null;
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

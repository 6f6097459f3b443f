import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { eq, sql } from 'drizzle-orm';
import { fills, type Bot, type DatabaseHandle } from '@tapevision/db';
import type { ApiDeps } from '../deps.ts';
import { DetailedCause } from '../errors.ts';
import type { TapePrint } from '../schemas/market.ts';
import { DEFAULT_UNIVERSE, findInstrument, type Instrument } from '../trading/instruments.ts';
import { strategyFor, type AnyStrategy, type Signal } from '../trading/strategies/index.ts';
import { BOTS_CHANNEL, ownerMayTrade, recordBotError, runningBots, stopBotFromRunner } from './bots.ts';
import { createLeaderLoop, type LeaderLoop } from './leader-loop.ts';
import { executeOrder, type TradingActor } from './trading.ts';

// Any 64-bit constant works, the same in every process and unlike the other lock keys (…120, …121).
export const BOT_RUNNER_LOCK_KEY = 7_401_236_122;

/** Prints queued for one bot beyond which new ones are dropped (a bot stuck behind a slow database). */
const MAX_PENDING_PRINTS = 1_000;

export interface BotRunnerOptions {
  database: Pick<DatabaseHandle, 'tryLock'>;
  deps: ApiDeps;
  /** How often a follower tries for the lock, and the leader checks it and reloads every running bot. */
  retryMs: number;
  universe?: readonly Instrument[];
}

/** start, stop (waits for orders under way, then gives up the lock) and leading, as every leader loop. */
export interface BotRunner extends LeaderLoop {
  /** Ids of the bots this process runs now (none unless it leads). */
  readonly running: string[];
  /** Resolves once every print and reload queued so far has been handled (tests). */
  idle(): Promise<void>;
}

interface RunningBot {
  row: Bot;
  strategy: AnyStrategy;
  params: unknown;
  state: unknown;
  /** The bot's own net position per symbol, from its fills. */
  position: Map<string, number>;
}

/** Prints are handled one at a time per bot, so each decision sees the last order's position. */
interface BotQueue {
  tail: Promise<void>;
  pending: number;
}

const RUNNER_ORIGIN = { ip: null, userAgent: 'bot-runner' } as const;

function describeError(err: unknown): { text: string; risk: string | null } {
  if (err instanceof TRPCError) {
    const details = err.cause instanceof DetailedCause ? err.cause.details : {};
    if (details.reason === 'RISK_REJECTED') return { text: `${err.message} (rule ${String(details.rule)})`, risk: String(details.rule) };
    return { text: err.message, risk: null };
  }
  return { text: 'Internal error placing the order', risk: null };
}

/**
 * Exactly one process runs the bots: whichever holds the advisory lock (with PGlite, always this
 * one). It keeps every running bot in memory, reloads one on each 'bots' notice and all of them on
 * a timer, feeds each the prints of its symbols, and places what the strategy signals through
 * executeOrder as the bot itself, after the owner's right to trade and the bot's rate limit.
 */
export function createBotRunner(opts: BotRunnerOptions): BotRunner {
  const { deps } = opts;
  const universe = opts.universe ?? DEFAULT_UNIVERSE;
  const live = new Map<string, RunningBot>();
  const queues = new Map<string, BotQueue>();
  /** Every print still being handled, whether or not its bot is still in `live`. */
  const inflight = new Set<Promise<void>>();
  let leading = false;
  let unsubscribePrints: (() => void) | undefined;

  async function positionsOf(botId: string): Promise<Map<string, number>> {
    const rows = await deps.db
      .select({ symbol: fills.symbol, net: sql<number>`coalesce(sum(case when ${fills.side} = 'BUY' then ${fills.quantity} else -${fills.quantity} end), 0)::int` })
      .from(fills)
      .where(eq(fills.botId, botId))
      .groupBy(fills.symbol);
    return new Map(rows.map((r) => [r.symbol, Number(r.net)]));
  }

  /** Puts the row's current version in the map, keeping the strategy's state if nothing it reads changed. */
  async function install(row: Bot): Promise<void> {
    const current = live.get(row.id);
    if (current && current.row.version === row.version) return;
    const strategy = strategyFor(row.strategy);
    const parsed = strategy?.parameters.safeParse(row.parameters);
    if (!strategy || !parsed?.success) {
      live.delete(row.id);
      await stopBotFromRunner(deps, row.id, 'invalid_configuration', 'The bot cannot run: its strategy or parameters are not valid');
      return;
    }
    const position = current ? current.position : await positionsOf(row.id);
    const same = current && current.row.strategy === row.strategy && JSON.stringify(current.row.parameters) === JSON.stringify(row.parameters);
    live.set(row.id, {
      row,
      strategy,
      params: parsed.data,
      state: same ? current.state : strategy.init(),
      position,
    });
  }

  async function reloadAll(): Promise<void> {
    const rows = await runningBots(deps.db);
    const ids = new Set(rows.map((r) => r.id));
    for (const id of [...live.keys()]) if (!ids.has(id)) live.delete(id);
    for (const row of rows) await install(row);
  }

  function onPrint(print: TapePrint): void {
    if (!leading) return;
    for (const bot of live.values()) {
      if (!bot.row.symbols.includes(print.symbol)) continue;
      const id = bot.row.id;
      let queue = queues.get(id);
      if (!queue) queues.set(id, (queue = { tail: Promise.resolve(), pending: 0 }));
      if (queue.pending >= MAX_PENDING_PRINTS) continue;
      queue.pending += 1;
      const work: Promise<void> = queue.tail
        .then(() => handle(id, print))
        .catch((err: unknown) => deps.logger.warn({ err, botId: id }, 'bot print handling failed'))
        .finally(() => {
          inflight.delete(work);
          if (--queue.pending === 0 && queues.get(id) === queue) queues.delete(id);
        });
      queue.tail = work;
      inflight.add(work);
    }
  }

  async function handle(botId: string, print: TapePrint): Promise<void> {
    const bot = live.get(botId);
    const instrument = findInstrument(universe, print.symbol);
    if (!bot || !instrument || !leading) return;
    const position = bot.position.get(print.symbol) ?? 0;
    const { state, signal } = bot.strategy.decide(bot.params, bot.state, { id: print.id, symbol: print.symbol, price: print.price }, { tickSize: instrument.tickSize, position });
    bot.state = state;
    if (signal) await place(bot, signal);
  }

  async function place(bot: RunningBot, signal: Signal): Promise<void> {
    const { row } = bot;
    // The owner may have been disabled or demoted since the bot started: it must not trade for them.
    if (!(await ownerMayTrade(deps.db, row.ownerId))) {
      live.delete(row.id);
      await stopBotFromRunner(deps, row.id, 'owner_may_not_trade', 'Stopped: the owner is disabled or no longer holds trading.execute');
      return;
    }
    const origin = { ...RUNNER_ORIGIN, requestId: randomUUID() };
    const decision = await deps.rateLimits.limiter.consume('trading.execute', deps.rateLimits.policies['trading.execute'], `b:${row.id}`, 1);
    if (!decision.allowed) {
      await deps.rateLimits.denials.denied('trading.execute', { type: 'bot', id: row.id, key: `b:${row.id}` }, origin);
      await noteError(bot, `Rate limited: order not placed (retry in ${Math.ceil(decision.retryAfterMs / 1000)} s)`);
      return;
    }
    const who: TradingActor = { ownerId: row.ownerId, actor: { type: 'bot', id: row.id }, origin, botId: row.id, placedBy: `bot:${row.id}` };
    try {
      const order = await executeOrder(deps, who, {
        action: signal.side,
        symbol: signal.symbol,
        quantity: signal.quantity,
        type: 'market',
        reason: signal.reason,
        // The same print gives the same id: a leader hand-over cannot place one signal twice.
        clientOrderId: `bot-${row.id}-${signal.printId}`,
      });
      if (order.filledQuantity > 0) {
        const signed = order.side === 'BUY' ? order.filledQuantity : -order.filledQuantity;
        bot.position.set(order.symbol, (bot.position.get(order.symbol) ?? 0) + signed);
      }
      if (row.lastError !== null) await noteError(bot, null);
    } catch (err) {
      const { text, risk } = describeError(err);
      if (!risk && !(err instanceof TRPCError)) deps.logger.error({ err, botId: row.id }, 'bot order failed');
      await noteError(bot, text);
    }
  }

  async function noteError(bot: RunningBot, text: string | null): Promise<void> {
    bot.row = { ...bot.row, lastError: text };
    await recordBotError(deps, bot.row.id, text);
  }

  async function settled(): Promise<void> {
    while (inflight.size > 0) await Promise.all([...inflight]);
  }

  // Every 'bots' notice and every timer tick reloads the running bots: one query, and a lost
  // notice delays a start or stop by one retry at most.
  const loop = createLeaderLoop({
    name: 'bot runner',
    database: opts.database,
    lockKey: BOT_RUNNER_LOCK_KEY,
    bus: deps.bus,
    channels: [BOTS_CHANNEL],
    retryMs: opts.retryMs,
    logger: deps.logger,
    role: {
      lead() {
        leading = true;
        unsubscribePrints = deps.market.onPrint(onPrint);
      },
      tick: reloadAll,
      async stepDown() {
        leading = false;
        unsubscribePrints?.();
        unsubscribePrints = undefined;
        await settled();
        live.clear();
      },
    },
  });

  return {
    start: () => loop.start(),
    stop: () => loop.stop(),
    get leading() {
      return loop.leading;
    },
    get running() {
      return [...live.keys()];
    },
    idle: settled,
  };
}

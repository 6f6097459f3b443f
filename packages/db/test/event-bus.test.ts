import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalEventBus, createPostgresEventBus, createScratchDatabase, type EventBus } from '../src/index.ts';

// The local Postgres every machine and CI has; the bus needs no schema, only a database.
const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function received(bus: EventBus, channel: string) {
  const seen: unknown[] = [];
  return {
    seen,
    ready: bus.subscribe(channel, (payload) => seen.push(payload)),
    until: async (count: number) => {
      const deadline = Date.now() + 5_000;
      while (seen.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      // A little longer, so a message that should not come has the time to.
      await new Promise((r) => setTimeout(r, 100));
      return seen;
    },
  };
}

const payloads = [
  { type: 'revoked', id: 1, text: `it's "quoted", \\ and ünïcode ✓` },
  { type: 'created', id: 2, nested: { list: [1, 2, 3] } },
  ['an', 'array'],
  'a plain string',
  42,
];

const cases: [string, () => Promise<{ bus: EventBus; close(): Promise<void> }>][] = [
  ['in-process (PGlite)', async () => ({ bus: createLocalEventBus(), close: async () => {} })],
  [
    'LISTEN/NOTIFY (Postgres)',
    async () => {
      const scratch = await createScratchDatabase(POSTGRES_URL, 'tv_bus');
      const client = postgres(scratch.url, { max: 2, onnotice: () => {} });
      const bus = createPostgresEventBus(client);
      return {
        bus,
        close: async () => {
          await bus.close();
          await client.end({ timeout: 5 });
          await scratch.drop();
        },
      };
    },
  ],
];

describe.each(cases)('event bus, %s', (_name, open) => {
  let bus: EventBus;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ bus, close } = await open());
  });
  afterAll(async () => close());

  it('publishAll delivers every message once, in order, each equal to what was sent', async () => {
    const listener = received(bus, 'bus_test_order');
    await listener.ready;
    await bus.publishAll('bus_test_order', payloads);
    expect(await listener.until(payloads.length)).toEqual(payloads);
  });

  it('publishAll of one message and of none; publish still delivers on its own', async () => {
    const listener = received(bus, 'bus_test_sizes');
    await listener.ready;
    await bus.publishAll('bus_test_sizes', []);
    await bus.publishAll('bus_test_sizes', [{ only: true }]);
    await bus.publish('bus_test_sizes', { single: true });
    expect(await listener.until(2)).toEqual([{ only: true }, { single: true }]);
  });

  it('messages stay on their channel', async () => {
    const mine = received(bus, 'bus_test_mine');
    const other = received(bus, 'bus_test_other');
    await Promise.all([mine.ready, other.ready]);
    await bus.publishAll('bus_test_mine', [1, 2]);
    expect(await mine.until(2)).toEqual([1, 2]);
    expect(other.seen).toEqual([]);
  });
});

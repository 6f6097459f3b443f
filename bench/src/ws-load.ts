/**
 * WebSocket load, run as its own process (as autocannon is for HTTP). It speaks tRPC's
 * WebSocket protocol directly with `ws` (@trpc/server adapters/ws): `?connectionParams=1` and a
 * first message {"method":"connectionParams","data":{…}}, then calls
 * {"id":1,"method":"query"|"subscription","params":{"path":…,"input":…}} answered by
 * {"id":1,"result":{"type":"data","data":…}} or {"id":1,"error":…}. Prints one JSON line.
 *
 * - `query`: each connection sends one query at a time, the next as soon as the answer arrives
 *   (autocannon's model, pipelining 1): requests/s and latency.
 * - `fanout`: many clients hold one subscription each (or, against the raw broadcast, just
 *   listen); counts messages received and their delivery latency, from the `at` stamped when the
 *   print was made to when the frame is read here (the same machine clock, millisecond steps).
 */
import WebSocket from 'ws';

export interface WsQueryOptions {
  mode: 'query';
  url: string;
  connectionParams?: Record<string, string>;
  path: string;
  connections: number;
  /** Seconds. */
  duration: number;
}

export interface WsFanoutOptions {
  mode: 'fanout';
  url: string;
  connectionParams?: Record<string, string>;
  /** The subscription to open on each client; none for the raw broadcast, which sends unasked. */
  subscribe?: { path: string; input?: unknown };
  clients: number;
  /** Called (POST, with the bearer token if one is given) once every client is subscribed: starts the tape. */
  start?: { url: string; token: string };
  warmupSeconds: number;
  seconds: number;
}

export interface WsQueryResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
}

export interface WsFanoutResult {
  clients: number;
  /** Messages received per second, summed over the clients. */
  messagesPerSecond: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  total: number;
}

/** Latencies in steps of `step` ms, up to a minute. */
function histogram(step: number) {
  const buckets = new Uint32Array(Math.ceil(60_000 / step) + 1);
  let count = 0;
  let max = 0;
  return {
    add(ms: number) {
      const i = Math.min(buckets.length - 1, Math.max(0, Math.round(ms / step)));
      buckets[i]! += 1;
      count += 1;
      if (ms > max) max = ms;
    },
    percentile(p: number) {
      if (count === 0) return 0;
      const rank = Math.ceil(count * p);
      let seen = 0;
      for (let i = 0; i < buckets.length; i++) {
        seen += buckets[i]!;
        if (seen >= rank) return i * step;
      }
      return max;
    },
    get count() {
      return count;
    },
    get max() {
      return max;
    },
  };
}

function open(url: string, connectionParams: Record<string, string> | undefined): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // No UTF-8 check of every frame: that would be load-generator work, taken from the server under test.
    const ws = new WebSocket(connectionParams ? `${url}?connectionParams=1` : url, { perMessageDeflate: false, skipUTF8Validation: true });
    ws.once('open', () => {
      if (connectionParams) ws.send(JSON.stringify({ method: 'connectionParams', data: connectionParams }));
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

async function openAll(url: string, params: Record<string, string> | undefined, n: number): Promise<WebSocket[]> {
  // In waves, so the listen backlog never overflows.
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 50) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => open(url, params)))));
  }
  return sockets;
}

async function queryLoad(opts: WsQueryOptions): Promise<WsQueryResult> {
  const sockets = await openAll(opts.url, opts.connectionParams, opts.connections);
  const latency = histogram(0.01);
  let errors = 0;
  let running = true;
  const started = performance.now();
  const message = (id: number) => JSON.stringify({ id, method: 'query', params: { path: opts.path } });
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          let id = 0;
          let sentAt = 0;
          const send = () => {
            if (!running) return resolve();
            id += 1;
            sentAt = performance.now();
            ws.send(message(id));
          };
          ws.on('message', (data) => {
            const text = data.toString();
            if (text.includes('"error"')) errors += 1;
            else latency.add(performance.now() - sentAt);
            send();
          });
          ws.once('close', () => {
            if (running) errors += 1;
            resolve();
          });
          send();
        }),
    ).concat([
      new Promise<void>((resolve) =>
        setTimeout(() => {
          running = false;
          resolve();
        }, opts.duration * 1_000),
      ),
    ]),
  );
  const elapsed = (performance.now() - started) / 1_000;
  for (const ws of sockets) ws.terminate();
  return { rps: latency.count / elapsed, p50: latency.percentile(0.5), p99: latency.percentile(0.99), errors, non2xx: 0, total: latency.count + errors };
}

async function fanout(opts: WsFanoutOptions): Promise<WsFanoutResult> {
  const sockets = await openAll(opts.url, opts.connectionParams, opts.clients);
  const latency = histogram(1);
  let measuring = false;
  let errors = 0;
  let subscribed = 0;
  const allSubscribed = new Promise<void>((resolve) => {
    if (!opts.subscribe) resolve();
    for (const ws of sockets) {
      // The load generator shares the machine with the server: it reads a print's stamp straight
      // from the frame's bytes (no text copy of the whole frame, no JSON parse), so as much of the
      // CPU as possible is left to the server under test.
      ws.on('message', (data: Buffer) => {
        const at = data.indexOf('"at":"');
        if (at >= 0) {
          if (measuring) latency.add(Date.now() - Date.parse(data.toString('latin1', at + 6, at + 30)));
          return;
        }
        const text = data.toString();
        if (text.includes('"started"')) {
          if (++subscribed === sockets.length) resolve();
        } else if (text.includes('"error"')) {
          errors += 1;
        }
      });
      ws.once('close', () => {
        errors += 1;
      });
      if (opts.subscribe) ws.send(JSON.stringify({ id: 1, method: 'subscription', params: { path: opts.subscribe.path, input: opts.subscribe.input } }));
    }
  });
  // A client that never gets its subscription fails the run instead of hanging it.
  await Promise.race([
    allSubscribed,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${subscribed} of ${sockets.length} clients subscribed within 60 s`)), 60_000).unref()),
  ]);
  if (opts.start) {
    const auth: Record<string, string> = opts.start.token ? { authorization: `Bearer ${opts.start.token}` } : {};
    const res = await fetch(opts.start.url, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' });
    if (!res.ok) throw new Error(`could not start the tape: HTTP ${res.status} ${await res.text()}`);
  }
  await new Promise((r) => setTimeout(r, opts.warmupSeconds * 1_000));
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, opts.seconds * 1_000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1_000;
  for (const ws of sockets) {
    ws.removeAllListeners('close');
    ws.terminate();
  }
  return {
    clients: sockets.length,
    messagesPerSecond: latency.count / elapsed,
    p50: latency.percentile(0.5),
    p99: latency.percentile(0.99),
    max: latency.max,
    errors,
    total: latency.count,
  };
}

const opts = JSON.parse(process.argv[2] ?? '{}') as WsQueryOptions | WsFanoutOptions;
const result = opts.mode === 'query' ? await queryLoad(opts) : await fanout(opts);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);

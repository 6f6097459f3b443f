/**
 * A raw `ws` socket speaking tRPC's WebSocket protocol by hand, for the limit tests where the
 * typed client would hide what happens on the wire: every message the server sends is kept, and
 * the close (code, reason, when) is recorded.
 *
 * Wire format (@trpc/server adapters/ws, parseTRPCMessage): a call is
 * {"id":1,"method":"query"|"mutation"|"subscription","params":{"path":"auth.me","input":...}},
 * {"id":1,"method":"subscription.stop"} ends a subscription; with `?connectionParams=1` in the URL
 * the first message must be {"method":"connectionParams","data":{...}}. Answers are
 * {"id":1,"result":{"type":"data"|"started"|"stopped","data":...}} or {"id":1,"error":{code,message,data}}.
 */
import WebSocket from 'ws';
import type { TestServer } from './server.ts';

export interface WireMessage {
  id?: string | number | null;
  method?: string;
  result?: { type?: string; data?: unknown };
  error?: { code: number; message: string; data?: { code?: string; httpStatus?: number; reason?: string; [k: string]: unknown } };
}

export interface RawSocket {
  ws: WebSocket;
  /** Every JSON message received, in order. */
  messages: WireMessage[];
  /** Resolves once open (and connection params, if any, sent). */
  opened: Promise<void>;
  /** Resolves when the socket closes, with the code the server sent. */
  closed: Promise<{ code: number; reason: string; at: number }>;
  readonly isClosed: boolean;
  openedAt: number;
  send(message: unknown): void;
  sendRaw(data: string | Buffer): void;
  call(id: number | string, path: string, input?: unknown, method?: 'query' | 'mutation' | 'subscription'): void;
  /** The first message for this id that is not a subscription "started". */
  answer(id: number | string, timeoutMs?: number): Promise<WireMessage>;
  /** The first message for this id, whatever it is. */
  first(id: number | string, timeoutMs?: number): Promise<WireMessage>;
  close(): Promise<void>;
}

export function openRawSocket(
  server: Pick<TestServer, 'wsUrl'>,
  opts: { connectionParams?: Record<string, string> | null; sendParams?: boolean } = {},
): RawSocket {
  const withParams = opts.connectionParams !== undefined && opts.connectionParams !== null;
  const ws = new WebSocket(withParams ? `${server.wsUrl}?connectionParams=1` : server.wsUrl);
  const messages: WireMessage[] = [];
  const waiters = new Set<() => void>();
  let isClosed = false;
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  ws.on('message', (data) => {
    const text = data.toString();
    try {
      messages.push(JSON.parse(text) as WireMessage);
    } catch {
      messages.push({ method: text });
    }
    notify();
  });
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.once('close', (code, reason) => {
      isClosed = true;
      resolve({ code, reason: reason.toString(), at: Date.now() });
      notify();
    });
  });
  ws.on('error', () => {
    // surfaced through `closed`
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      if (withParams && opts.sendParams !== false) ws.send(JSON.stringify({ method: 'connectionParams', data: opts.connectionParams }));
      resolve();
    });
    ws.once('close', () => reject(new Error('closed before open')));
  });
  opened.catch(() => {});

  function waitFor(match: (m: WireMessage) => boolean, timeoutMs: number, what: string): Promise<WireMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = messages.find(match);
        if (found) {
          cleanup();
          resolve(found);
        } else if (isClosed) {
          cleanup();
          reject(new Error(`socket closed while waiting for ${what}; got ${JSON.stringify(messages)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  }

  const socket: RawSocket = {
    ws,
    messages,
    opened,
    closed,
    get isClosed() {
      return isClosed;
    },
    openedAt: Date.now(),
    send(message) {
      ws.send(JSON.stringify(message));
    },
    sendRaw(data) {
      ws.send(data);
    },
    call(id, path, input, method = 'query') {
      ws.send(JSON.stringify({ id, method, params: { path, input } }));
    },
    answer(id, timeoutMs = 5_000) {
      return waitFor((m) => m.id === id && m.result?.type !== 'started', timeoutMs, `an answer to ${id}`);
    },
    first(id, timeoutMs = 5_000) {
      return waitFor((m) => m.id === id, timeoutMs, `a message for ${id}`);
    },
    async close() {
      if (!isClosed) {
        ws.close();
        await Promise.race([closed, new Promise((r) => setTimeout(r, 1_000))]);
        if (!isClosed) ws.terminate();
      }
    },
  };
  return socket;
}

/**
 * An open socket authenticated with `params` (accessToken or apiKey), proven by one call to
 * `probePath` answered with data. The probe is one message against the per-connection budget.
 */
export async function authedRawSocket(
  server: Pick<TestServer, 'wsUrl'>,
  params: Record<string, string>,
  probePath = 'auth.me',
): Promise<RawSocket> {
  const socket = openRawSocket(server, { connectionParams: params });
  await socket.opened;
  socket.call('probe', probePath);
  const answer = await socket.answer('probe');
  if (answer.result?.type !== 'data') {
    await socket.close();
    throw new Error(`the socket did not authenticate: ${JSON.stringify(answer)}`);
  }
  return socket;
}

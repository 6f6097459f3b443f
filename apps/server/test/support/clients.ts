import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpLink,
  TRPCClientError,
  wsLink,
  type TRPCClient,
  type TRPCWebSocketClient,
} from '@trpc/client';
import type { AppRouter } from '@tapevision/api';
import WebSocket from 'ws';
import type { TestServer } from './server.ts';

/** Remembers cookies like a browser would, for the refresh-cookie flow. */
export class CookieJar {
  private cookies = new Map<string, string>();
  readonly setCookieHeaders: string[] = [];
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      this.setCookieHeaders.push(line);
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

export interface HttpClientOptions {
  token?: string | (() => string | null | undefined);
  jar?: CookieJar;
  headers?: Record<string, string>;
  batch?: boolean;
}

export type ApiClient = TRPCClient<AppRouter>;

export function httpClient(server: Pick<TestServer, 'trpcUrl'>, opts: HttpClientOptions = {}): ApiClient {
  const link = opts.batch === false ? httpLink : httpBatchLink;
  return createTRPCClient<AppRouter>({
    links: [
      link({
        url: server.trpcUrl,
        headers: () => {
          const token = typeof opts.token === 'function' ? opts.token() : opts.token;
          return {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(opts.jar ? { cookie: opts.jar.header() } : {}),
            ...opts.headers,
          };
        },
        fetch: async (input, init) => {
          const res = await fetch(input as string, init as RequestInit);
          opts.jar?.store(res);
          return res;
        },
      }),
    ],
  });
}

export interface WsTestClient {
  trpc: ApiClient;
  client: TRPCWebSocketClient;
  closes: { code: number; reason: string }[];
  close(): Promise<void>;
}

/** A WebSocket client authenticated by an access token, or by any connection params (an API key). */
export function wsClient(
  server: Pick<TestServer, 'wsUrl'>,
  opts: { token?: string | null; connectionParams?: Record<string, string> } = {},
): WsTestClient {
  const closes: { code: number; reason: string }[] = [];
  const client = createWSClient({
    url: server.wsUrl,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    connectionParams: () => opts.connectionParams ?? (opts.token ? { accessToken: opts.token } : {}),
    retryDelayMs: () => 60_000,
    onClose: (cause) => closes.push({ code: cause?.code ?? 0, reason: '' }),
  });
  const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client })] });
  return {
    trpc,
    client,
    closes,
    async close() {
      await client.close();
    },
  };
}

export function errorData(err: unknown): { code?: string; httpStatus?: number; reason?: string; permission?: string; [k: string]: unknown } {
  if (err instanceof TRPCClientError) return (err.data ?? {}) as Record<string, never>;
  throw err;
}

/** Runs a call that must fail and returns its TRPCClientError. */
export async function rejectionOf(promise: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TRPCClientError) return err as TRPCClientError<AppRouter>;
    throw err;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

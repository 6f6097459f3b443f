import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyTRPCRouter } from '@trpc/server';
import {
  getErrorShape,
  getHTTPStatusCode,
  getTRPCErrorFromUnknown,
  isAsyncIterable,
  isObject,
  isPromise,
  transformTRPCResponse,
  TRPCError,
} from '@trpc/server/unstable-core-do-not-import';

type Procedure = ((opts: {
  path: string;
  getRawInput: () => Promise<unknown>;
  ctx: unknown;
  type: 'query';
  signal: AbortSignal | undefined;
  batchIndex: number;
}) => Promise<unknown>) & { _def: { type: string } };

export interface QueryFastPathOptions<TContext> {
  router: AnyTRPCRouter;
  /** The same context factory the tRPC handlers use (its `info` carries no connectionParams over HTTP). */
  createContext: (opts: { req: IncomingMessage; res: ServerResponse; info: { connectionParams: null } }) => Promise<TContext>;
  onError?: (opts: { error: TRPCError; path: string; input: unknown; ctx: TContext | undefined; type: 'query'; req: IncomingMessage }) => void;
}

const PREFIX = '/trpc/';

/**
 * The common call, one query by GET (`/trpc/<path>` with at most an `input` parameter), answered
 * without tRPC's fetch adaptation: its HTTP handler turns every Node request into a WHATWG
 * Request, Headers and two AbortSignals and streams a Response back, which cost the bare tRPC
 * server most of its time per call (bench/README.md). The procedure is the same, called with the
 * same context; the answer is the JSON, status and headers resolveResponse gives (a test compares
 * them call for call). Anything else (batches, mutations, subscriptions, streaming, unknown paths,
 * input that is not JSON) returns false and goes to tRPC's handler unchanged.
 */
export function createQueryFastPath<TContext>(opts: QueryFastPathOptions<TContext>) {
  const { router } = opts;
  const config = router._def._config;
  const procedures = router._def.procedures as Record<string, Procedure | undefined>;

  return function handleQuery(req: IncomingMessage, res: ServerResponse, pathname: string): boolean {
    if (req.method !== 'GET' || req.headers['trpc-accept'] !== undefined || !pathname.startsWith(PREFIX)) return false;
    const path = pathname.slice(PREFIX.length);
    // Own properties only: a path like "constructor" must not reach Object.prototype.
    const procedure = Object.hasOwn(procedures, path) ? procedures[path] : undefined;
    if (!procedure || procedure._def.type !== 'query') return false;
    const input = inputOf(req.url ?? '');
    if (input === UNSUPPORTED) return false;
    void answer(req, res, path, procedure, input);
    return true;
  };

  async function answer(req: IncomingMessage, res: ServerResponse, path: string, procedure: Procedure, rawInput: unknown) {
    let ctx: TContext | undefined;
    // tRPC reports the input to onError and the error formatter only once a procedure has read it.
    let inputRead = false;
    let body: string;
    let status: number;
    try {
      ctx = await opts.createContext({ req, res, info: { connectionParams: null } });
      const data = await procedure({
        path,
        getRawInput: async () => {
          inputRead = true;
          return rawInput;
        },
        ctx,
        type: 'query',
        signal: undefined,
        batchIndex: 0,
      });
      if (isDataStream(data)) {
        throw new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Cannot use stream-like response in non-streaming request - use httpBatchStreamLink' });
      }
      const json = { result: { data } };
      status = getHTTPStatusCode(json);
      body = JSON.stringify(transformTRPCResponse(config, json));
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      const input = inputRead ? rawInput : undefined;
      opts.onError?.({ error, path, input, ctx, type: 'query', req });
      const json = { error: getErrorShape({ config, ctx, error, input, path, type: 'query' }) };
      status = getHTTPStatusCode(json);
      body = JSON.stringify(transformTRPCResponse(config, json));
    }
    if (res.headersSent || res.destroyed) return;
    res.statusCode = status;
    res.setHeader('vary', 'trpc-accept, accept');
    res.setHeader('content-type', 'application/json');
    res.end(body);
  }

  // tRPC reads `?input=` as JSON through the router's transformer; no other parameter has a
  // meaning for a single query, so a request carrying one is left to tRPC.
  function inputOf(url: string): unknown {
    const q = url.indexOf('?');
    if (q < 0 || q === url.length - 1) return undefined;
    const params = new URLSearchParams(url.slice(q + 1));
    let raw: string | null = null;
    for (const [key, value] of params) {
      if (key !== 'input' || raw !== null) return UNSUPPORTED;
      raw = value;
    }
    if (!raw) return undefined;
    try {
      return config.transformer.input.deserialize(JSON.parse(raw));
    } catch {
      return UNSUPPORTED;
    }
  }
}

const UNSUPPORTED = Symbol('unsupported');

// As tRPC's resolveResponse decides it: a value it would have to stream.
function isDataStream(v: unknown): boolean {
  if (!isObject(v)) return false;
  if (isAsyncIterable(v)) return true;
  const values = Object.values(v);
  return values.some(isPromise) || values.some(isAsyncIterable);
}

import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Limits on the HTTP server itself, before any request reaches tRPC. */
export interface HttpLimits {
  /** Time a client has to send a request's headers (slow-header clients are cut). */
  headersTimeoutMs: number;
  /** Time a client has to send a whole request, body included. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept open. */
  keepAliveTimeoutMs: number;
  /** Open connections per client address; 0 turns the cap off (behind a proxy every client is the proxy). */
  maxConnectionsPerIp: number;
  /** Calls in one tRPC HTTP batch. */
  maxBatchSize: number;
}

export const defaultHttpLimits: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnectionsPerIp: 100,
  maxBatchSize: 50,
};

/**
 * Node's own timeouts, set explicitly rather than left at defaults sized for trusted networks
 * (60 s for headers, 300 s for a request), and checked often enough to act on them: Node looks
 * for expired requests only every `connectionsCheckingInterval` (30 s by default).
 */
export function serverOptions(limits: HttpLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/**
 * Caps the connections one address may hold open, so a few slow clients cannot take every
 * socket: the one over the cap is closed at once, before any byte of it is parsed.
 */
export function capConnectionsPerIp(server: http.Server, max: number): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? 'unknown';
    const count = (open.get(ip) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(ip, count);
    socket.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left <= 0) open.delete(ip);
      else open.set(ip, left);
    });
  });
}

const METHOD_NOT_SUPPORTED = -32005;
const BAD_REQUEST = -32600;
const PAYLOAD_TOO_LARGE = -32013;

/** An error in tRPC's own shape (the client reads it like any other), written by the server. */
function trpcError(res: http.ServerResponse, status: number, rpcCode: number, code: string, message: string, data: Record<string, unknown> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(status === 405 ? { allow: 'GET, POST' } : {}) });
  res.end(JSON.stringify({ error: { code: rpcCode, message, data: { ...data, code, httpStatus: status } } }));
}

// tRPC answers GET (queries, subscriptions) and POST (mutations, batches). Other methods reach its
// adapter's WHATWG Request, which throws on TRACE and CONNECT: a 500 with a stack in the log.
const TRPC_METHODS = new Set(['GET', 'POST', 'HEAD']);

/** Answers what tRPC's handler must not see; true when the request has been answered here. */
export function refuseTrpcRequest(req: http.IncomingMessage, res: http.ServerResponse, pathname: string, limits: HttpLimits): boolean {
  if (!TRPC_METHODS.has(req.method ?? '')) {
    trpcError(res, 405, METHOD_NOT_SUPPORTED, 'METHOD_NOT_SUPPORTED', `Method ${req.method ?? ''} is not allowed: use GET or POST`);
    return true;
  }
  const calls = batchCalls(req.url ?? '', pathname);
  if (calls > limits.maxBatchSize) {
    trpcError(res, 400, BAD_REQUEST, 'BAD_REQUEST', `At most ${limits.maxBatchSize} calls per batch (this one has ${calls})`, {
      reason: 'BATCH_TOO_LARGE',
      maxBatchSize: limits.maxBatchSize,
    });
    return true;
  }
  return false;
}

function batchCalls(url: string, pathname: string): number {
  const q = url.indexOf('?');
  if (q < 0 || !new URLSearchParams(url.slice(q + 1)).has('batch')) return 1;
  return pathname.slice('/trpc/'.length).split(',').length;
}

// After a 413 the rest of the body is read and dropped, so the client (still sending) gets the
// answer instead of a reset; beyond this much the connection is cut.
const DRAIN_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Reads a request body up to `maxBodyBytes` and hands it on as text. Over the limit (announced by
 * Content-Length or reached by a chunked body) the answer is a 413 at once: tRPC's own check
 * stopped reading mid-body and could leave a batch without an answer, the connection hanging.
 */
export function readBoundedBody(req: http.IncomingMessage, res: http.ServerResponse, maxBodyBytes: number, onBody: (text: string) => void): void {
  const tooLarge = () => {
    trpcError(res, 413, PAYLOAD_TOO_LARGE, 'PAYLOAD_TOO_LARGE', `The request body is over the limit of ${maxBodyBytes} bytes`);
    let drained = 0;
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > DRAIN_MAX_BYTES) req.socket.destroy();
    });
    req.resume();
  };
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) return tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxBodyBytes) return void chunks.push(chunk);
    over = true;
    chunks.length = 0;
    req.off('data', onData);
    req.off('end', onEnd);
    tooLarge();
  };
  const onEnd = () => {
    if (!over) onBody(Buffer.concat(chunks, size).toString('utf8'));
  };
  req.on('data', onData);
  req.on('end', onEnd);
}

/**
 * Requests Node's parser refuses never reach the listener. An unknown method (TRACK) is a 405
 * like any unsupported one; the rest get the status Node would send (408 for a client too slow
 * with its headers or request), and nothing is logged.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const status =
    err.code === 'HPE_INVALID_METHOD'
      ? '405 Method Not Allowed\r\nAllow: GET, POST'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
  // Written, then destroyed as Node's own handler does: ending politely would leave the socket to a
  // client that never reads (a slow one), which is what the timeout is cutting.
  socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

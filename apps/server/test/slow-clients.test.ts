/**
 * Slow clients (slowloris): connections that send their headers a byte at a time are cut, by the
 * per-IP connection cap or the header timeout, while the server keeps answering everyone else.
 * Timeouts are shortened through config so the test runs in seconds.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

const HEADERS_TIMEOUT_MS = 1_000;
const MAX_PER_IP = 50;
const TRICKLERS = 200;

let server: TestServer;
let port: number;
beforeAll(async () => {
  server = await startTestServer({
    http: { headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 1_000, maxConnectionsPerIp: MAX_PER_IP },
  });
  port = Number(new URL(server.url).port);
});
afterAll(async () => {
  await server?.close();
});

interface Trickler {
  closedAfterMs: Promise<number>;
  stop(): void;
}

/** One byte of a never-ending request's headers every `everyMs`, from 127.0.0.1, for at most `forMs`. */
function trickle(everyMs: number, forMs: number): Trickler {
  const request = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-Slow: '.padEnd(4_000, 'x')}`);
  const started = Date.now();
  const socket = net.connect({ host: '127.0.0.1', port });
  let sent = 0;
  const timer = setInterval(() => {
    if (Date.now() - started > forMs) return stop();
    if (socket.writable && sent < request.length) socket.write(request.subarray(sent, ++sent));
  }, everyMs);
  const stop = () => {
    clearInterval(timer);
    socket.destroy();
  };
  socket.on('error', () => {});
  const closedAfterMs = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    }),
  );
  return { closedAfterMs, stop };
}

/** GET /healthz on a fresh connection from another loopback address, so the per-IP cap is not its. */
function probe(): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', localAddress: '127.0.0.2', agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

describe('slow clients', () => {
  it(`cuts ${TRICKLERS} connections trickling their headers while /healthz stays under 50 ms p99`, async () => {
    // Bounded: however the server behaves, no trickler outlives 8 s.
    const tricklers = Array.from({ length: TRICKLERS }, () => trickle(50, 8_000));
    const latencies: number[] = [];
    const until = Date.now() + HEADERS_TIMEOUT_MS + 1_500;
    while (Date.now() < until) {
      latencies.push(await probe());
      await new Promise((r) => setTimeout(r, 10));
    }
    const closedAfter = await Promise.all(tricklers.map((t) => t.closedAfterMs));
    tricklers.forEach((t) => t.stop());

    // Every one of them was cut by the server, long before the tricklers' own 8 s bound: those over
    // the cap at once, the rest by the header timeout (plus Node's check interval and load).
    expect(closedAfter.every((ms) => ms < HEADERS_TIMEOUT_MS + 2_000)).toBe(true);
    expect(closedAfter.filter((ms) => ms < HEADERS_TIMEOUT_MS / 2).length).toBeGreaterThanOrEqual(TRICKLERS - MAX_PER_IP);

    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? Infinity;
    expect(latencies.length).toBeGreaterThan(20);
    expect(p99).toBeLessThan(50);

    // The cap frees as connections close: the address that was slow is served again.
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
  }, 20_000);
});

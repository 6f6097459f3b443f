import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

const corked = new Set<Duplex>();
let scheduled = false;

function flush() {
  scheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * Frames sent on one WebSocket within one turn of the event loop leave in one write: a burst of
 * prints to a subscriber costs one system call instead of one per frame (under fan-out the
 * writes, not the JavaScript, were most of the time). The socket is uncorked once the current
 * callbacks and promise jobs are done (process.nextTick), so nothing waits for a later turn.
 */
export function batchWrites(ws: WebSocket, socket: Duplex): void {
  const send = ws.send.bind(ws) as (...args: unknown[]) => void;
  ws.send = ((...args: unknown[]) => {
    if (!corked.has(socket) && !socket.destroyed) {
      socket.cork();
      corked.add(socket);
      if (!scheduled) {
        scheduled = true;
        process.nextTick(flush);
      }
    }
    send(...args);
  }) as typeof ws.send;
}

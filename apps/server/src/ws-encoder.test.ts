import { describe, expect, it } from 'vitest';
import { serialiseOnce } from '@tapevision/api';
import { wsEncoder } from './ws-encoder.ts';

const print = () => ({ id: '1732420000000000001', at: '2026-11-24T04:00:00.000Z', symbol: 'ES', price: 5300.25, size: 3, side: 'BUY' });
// What tRPC's WebSocket adapter hands the encoder for a tracked subscription message.
const trackedMessage = (payload: object, jsonrpc?: string) => ({
  id: 7,
  ...(jsonrpc ? { jsonrpc } : {}),
  result: { type: 'data', data: { id: '1732420000000000001', data: payload }, id: '1732420000000000001' },
});

describe('wsEncoder', () => {
  it('writes a print serialised once as the same JSON tRPC would send', () => {
    for (const jsonrpc of [undefined, '2.0']) {
      const shared = serialiseOnce(print());
      const text = wsEncoder.encode(trackedMessage(shared, jsonrpc)) as string;
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(trackedMessage(print(), jsonrpc))));
    }
  });

  it('uses the text made once: the print cannot be changed after it', () => {
    const shared = serialiseOnce(print());
    expect(Object.isFrozen(shared)).toBe(true);
    expect(() => {
      (shared as { price: number }).price = 1;
    }).toThrow(TypeError);
    expect(JSON.parse(wsEncoder.encode(trackedMessage(shared)) as string).result.data.data.price).toBe(5300.25);
  });

  it('serialises everything else as it is', () => {
    const messages = [
      trackedMessage(print()),
      { id: 1, result: { type: 'started' } },
      { id: 2, result: { type: 'data', data: serialiseOnce(print()) } },
      { id: 3, error: { message: 'nope', code: -32600, data: { code: 'BAD_REQUEST' } } },
      { id: null, method: 'reconnect' },
    ];
    for (const message of messages) expect(wsEncoder.encode(message)).toBe(JSON.stringify(message));
  });

  it('decodes text frames as JSON and refuses binary ones', () => {
    expect(wsEncoder.decode('{"id":1,"method":"query"}')).toEqual({ id: 1, method: 'query' });
    expect(() => wsEncoder.decode(new Uint8Array([1, 2]))).toThrow();
  });
});

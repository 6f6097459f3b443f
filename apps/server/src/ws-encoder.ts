import type { Encoder } from '@trpc/server/adapters/ws';
import { jsonEncoder } from '@trpc/server/adapters/ws';
import { serialisedText } from '@tapevision/api';

interface OutgoingMessage {
  id?: unknown;
  jsonrpc?: unknown;
  result?: { type?: unknown; id?: unknown; data?: unknown };
}

/**
 * tRPC's JSON wire format, with one shortcut: a tracked subscription message whose payload was
 * serialised once for every subscriber (serialiseOnce: tape prints) is assembled around that
 * text instead of being serialised again per subscriber. The text parses to what
 * JSON.stringify(message) would give; only the order of the envelope's keys differs.
 */
export const wsEncoder: Encoder = {
  encode(message) {
    return trackedFrame(message as OutgoingMessage) ?? JSON.stringify(message);
  },
  decode: (data) => jsonEncoder.decode(data),
};

function trackedFrame(message: OutgoingMessage): string | undefined {
  const result = message.result;
  if (result?.type !== 'data' || result.id === undefined || message.id === undefined) return undefined;
  const envelope = result.data as { id?: unknown; data?: unknown } | undefined;
  const payload = serialisedText(envelope?.data);
  if (payload === undefined || envelope?.id === undefined) return undefined;
  const jsonrpc = message.jsonrpc === undefined ? '' : `"jsonrpc":${JSON.stringify(message.jsonrpc)},`;
  return (
    `{"id":${JSON.stringify(message.id)},${jsonrpc}"result":{"type":"data","id":${JSON.stringify(result.id)},` +
    `"data":{"id":${JSON.stringify(envelope.id)},"data":${payload}}}}`
  );
}

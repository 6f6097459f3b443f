/**
 * A value sent unchanged to many WebSocket subscribers (a tape print goes to every one of them)
 * carries its JSON text, made once, so the transport's encoder writes that text instead of
 * serialising the same object again for every subscriber. The value is frozen first: the text
 * can never go stale.
 */
const texts = new WeakMap<object, string>();

export function serialiseOnce<T extends object>(value: T): Readonly<T> {
  Object.freeze(value);
  texts.set(value, JSON.stringify(value));
  return value;
}

/** The JSON text of a value made by serialiseOnce; undefined for anything else. */
export function serialisedText(value: unknown): string | undefined {
  return typeof value === 'object' && value !== null ? texts.get(value) : undefined;
}

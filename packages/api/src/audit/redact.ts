// Names that carry credentials in any casing or separator style: password, newPassword,
// refresh_token, X-Api-Key, Authorization, Set-Cookie, clientSecret, otp...
const SECRET_KEY = /pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|private[-_]?key|authori[sz]ation|cookie|credential|otp|signature|mnemonic|seed[-_]?phrase|^key$/i;
// Any name that ends in the word "key" (signingKey, accessKey, encryption_key, x-access-key),
// but not in letters that merely spell it (monkey, hockey).
const CAMEL_KEY = /[a-z0-9]Keys?$/;
// Identifiers of secrets are not secrets: sessionId, apiKeyId, tokenId.
const IDENTIFIER_KEY = /(^|[-_])id$|[a-z]Id$|Ids?$/;
// Values that are credentials whatever their key: JWTs, our API keys, bearer headers, argon2 hashes.
const SECRET_VALUE = /^(eyJ[\w-]+\.[\w-]+\.[\w-]*|tvk_[\w-]+|Bearer\s+\S+|\$argon2(id|i|d)\$\S+)$/i;

export const REDACTED = '[REDACTED]';
const MAX_DEPTH = 8;
const MAX_STRING = 2_000;
const MAX_ENTRIES = 200;

export function isSecretKey(key: string): boolean {
  if (IDENTIFIER_KEY.test(key)) return false;
  return SECRET_KEY.test(key) || /(^|[-_])keys?$/i.test(key) || CAMEL_KEY.test(key);
}

/**
 * Deep copy with every secret-looking field or value replaced: the one filter between callers
 * and the audit table or the logs, whatever shape the caller passes.
 */
export function redactSecrets<T>(value: T): T {
  return walk(value, 0, new WeakSet()) as T;
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') {
    if (SECRET_VALUE.test(value.trim())) return REDACTED;
    return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  }
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? value.toString() : value;
  }
  if (value instanceof Date) return value.toISOString();
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  if (Array.isArray(value)) {
    return value.slice(0, MAX_ENTRIES).map((item) => walk(item, depth + 1, seen));
  }
  if (value instanceof Error) {
    // Keep what an operator needs to diagnose a failure (stack, code, the cause chain), filtered too.
    // Drizzle's query errors append the bound parameters (hashes, tokens): never keep them.
    const message = walk(value.message.replace(/\nparams: [\s\S]*$/, '\nparams: [REDACTED]'), depth + 1, seen);
    const out: Record<string, unknown> = { name: value.name, message };
    // The stack repeats the message: a redacted message is redacted there too.
    if (value.stack) {
      const stack = value.message ? value.stack.split(value.message).join(String(message)) : value.stack;
      out.stack = walk(stack.replace(/\nparams: [^\n]*/g, '\nparams: [REDACTED]'), depth + 1, seen);
    }
    const code = (value as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') out.code = code;
    if (value.cause !== undefined) out.cause = walk(value.cause, depth + 1, seen);
    return out;
  }
  const out: Record<string, unknown> = {};
  let count = 0;
  for (const [key, inner] of Object.entries(value)) {
    if (count++ >= MAX_ENTRIES) break;
    out[key] = isSecretKey(key) ? REDACTED : walk(inner, depth + 1, seen);
  }
  return out;
}

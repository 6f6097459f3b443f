import { z } from 'zod';

// Postgres text and jsonb cannot hold U+0000 (the insert fails with SQL in the error), and an
// unpaired UTF-16 surrogate has no UTF-8 form (text silently stores U+FFFD, jsonb refuses it).
// Refused at the schema, such input is a 400 naming the field instead of a 500 from the database.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const UNSTORABLE_TEXT_MESSAGE = 'Must not contain a NUL character or an unpaired surrogate';

/** True when the database can store the string exactly as given. */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

/**
 * The one check every free-text input carries (one instance, so a test can find it on each
 * string field of the router's inputs).
 */
export const storableText = z.refine<string>(isStorableText, UNSTORABLE_TEXT_MESSAGE);

/** The string every schema starts from: `text().trim().max(100)` rather than `z.string()…`. */
export function text() {
  return z.string().check(storableText);
}

/**
 * What a saved secret reads as in every answer. Browser-safe (no node:crypto), so the SPA's forms
 * and the bots schemas can name it without pulling the cipher into the bundle. It reveals neither
 * the content nor the length; an empty string stays empty, so "not set" and "set" remain apart.
 */
export const SECRET_MASK = '••••••••';

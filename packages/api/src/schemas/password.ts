import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as zxcvbnCommon from '@zxcvbn-ts/language-common';
import * as zxcvbnEn from '@zxcvbn-ts/language-en';
import { z } from 'zod';
import { text } from './text.ts';

// NIST SP 800-63B: length and a strength estimate against real cracking dictionaries, not
// composition rules, which push users to predictable patterns like "Password1!".
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;
export const PASSWORD_MIN_SCORE = 3;
// zxcvbn's matching cost grows steeply with length and l33t variants: a 256-character candidate
// held the event loop for seconds. The first 64 characters decide the score (a strong prefix makes
// a strong password; a weak one is refused), and the l33t variants tried are capped.
const STRENGTH_CHECK_LENGTH = 64;
const L33T_MAX_SUBSTITUTIONS = 20;

export type PasswordProblem = 'too_short' | 'too_long' | 'contains_email' | 'too_weak';

export interface PasswordAssessment {
  ok: boolean;
  score: 0 | 1 | 2 | 3 | 4;
  problem: PasswordProblem | null;
  message: string | null;
  warning: string | null;
  suggestions: string[];
}

let factory: ZxcvbnFactory | undefined;
function estimator(): ZxcvbnFactory {
  factory ??= new ZxcvbnFactory({
    translations: zxcvbnEn.translations,
    graphs: zxcvbnCommon.adjacencyGraphs,
    dictionary: { ...zxcvbnCommon.dictionary, ...zxcvbnEn.dictionary },
    l33tMaxSubstitutions: L33T_MAX_SUBSTITUTIONS,
  });
  return factory;
}

function emailLocalPart(email: string | undefined): string | null {
  const local = email?.split('@')[0]?.trim().toLowerCase();
  // A one- or two-letter local part would forbid half the alphabet; zxcvbn still weighs it.
  return local && local.length >= 3 ? local : null;
}

/** Scores a candidate password the same way in the browser (strength meter) and on the server. */
export function assessPassword(password: string, email?: string): PasswordAssessment {
  const local = emailLocalPart(email);
  const inputs = [email, local].filter((v): v is string => typeof v === 'string' && v.length > 0);
  const result = estimator().check(password.slice(0, STRENGTH_CHECK_LENGTH), inputs);
  const base = {
    score: result.score,
    warning: result.feedback.warning ?? null,
    suggestions: [...result.feedback.suggestions],
  };
  if (password.length < PASSWORD_MIN_LENGTH) {
    return { ...base, ok: false, problem: 'too_short', message: `Use at least ${PASSWORD_MIN_LENGTH} characters` };
  }
  if (password.length > PASSWORD_MAX_LENGTH) {
    return { ...base, ok: false, problem: 'too_long', message: `Use at most ${PASSWORD_MAX_LENGTH} characters` };
  }
  if (local && password.toLowerCase().includes(local)) {
    return { ...base, ok: false, problem: 'contains_email', message: 'The password must not contain your email name' };
  }
  if (result.score < PASSWORD_MIN_SCORE) {
    const hint = base.warning ?? base.suggestions[0] ?? 'Add more words or characters that are hard to guess';
    return { ...base, ok: false, problem: 'too_weak', message: `This password is too easy to guess. ${hint}`.trim() };
  }
  return { ...base, ok: true, problem: null, message: null };
}

/** A new password on its own; the email rule is added where the email is known. */
export const newPasswordSchema = text()
  .max(PASSWORD_MAX_LENGTH, `Use at most ${PASSWORD_MAX_LENGTH} characters`)
  .superRefine((password, ctx) => {
    const verdict = assessPassword(password);
    if (!verdict.ok) {
      ctx.addIssue({
        code: 'custom',
        message: verdict.message ?? 'Password rejected',
        params: { problem: verdict.problem, warning: verdict.warning, suggestions: verdict.suggestions },
      });
    }
  });

import { AppError } from '../../errors.js';

/** Says whether a CAPTCHA token proves a person; throws AppError when it cannot tell. */
export type HumanCheck = (token: string | undefined, remoteIp: string | undefined) => Promise<boolean>;

export interface TurnstileOptions {
  secret: string;
  /** Cloudflare's siteverify endpoint; configurable so tests can stand in for it. */
  verifyUrl: string;
  timeoutMs?: number;
}

/** Cloudflare's form field for the widget's token. */
export const TURNSTILE_FIELD = 'cf-turnstile-response';

/** Verifies a Cloudflare Turnstile token server-side (https://developers.cloudflare.com/turnstile/get-started/server-side-validation/). */
export function turnstileCheck(options: TurnstileOptions): HumanCheck {
  return async (token, remoteIp) => {
    if (!token) return false;
    const form = new URLSearchParams({ secret: options.secret, response: token });
    if (remoteIp) form.set('remoteip', remoteIp);
    let answer: { success?: unknown };
    try {
      const res = await fetch(options.verifyUrl, { method: 'POST', body: form, signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
      if (!res.ok) throw new Error(`siteverify answered ${res.status}`);
      answer = (await res.json()) as { success?: unknown };
    } catch {
      // Fail closed: without a verdict we can't tell a person from a bot.
      throw new AppError(503, 'captcha_unavailable', 'The anti-bot check is unavailable right now. Please try again in a moment.');
    }
    return answer.success === true;
  };
}

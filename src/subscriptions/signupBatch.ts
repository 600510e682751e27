import type { Db } from '../db/client.js';
import { writeTransaction } from '../db/transaction.js';
import { requestSubscription, type SignupOutcome, type SignupRequest } from './subscribe.js';

/** Enough to share a commit among many signups, small enough not to hold the event loop long. */
const MAX_BATCH = 64;

interface PendingSignup {
  request: SignupRequest;
  resolve(outcome: SignupOutcome): void;
  reject(error: unknown): void;
}

export interface SignupBatcher {
  /** Resolves once the signup is committed, with the same outcome requestSubscription gives. */
  submit(request: SignupRequest): Promise<SignupOutcome>;
}

/**
 * Group commit for signups. The commit is most of what a signup costs, so the signups that
 * arrive in one turn of the event loop are written in one SQLite transaction. Each still runs
 * in its own savepoint (requestSubscription's transaction nests), so one that fails is rolled
 * back alone and gets its own error; every caller hears back only after the commit.
 */
export function createSignupBatcher(db: Db, secrets: readonly string[]): SignupBatcher {
  let pending: PendingSignup[] = [];

  const writeBatch = (batch: PendingSignup[]) => {
    const results: ({ ok: true; outcome: SignupOutcome } | { ok: false; error: unknown })[] = [];
    try {
      // Immediate: the write lock is taken before anything is read, as a lone signup would.
      writeTransaction(db, () => {
        for (const signup of batch) {
          try {
            results.push({ ok: true, outcome: requestSubscription(db, secrets, signup.request) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed: nothing of this batch was stored.
      for (const signup of batch) signup.reject(error);
      return;
    }
    batch.forEach((signup, i) => {
      const result = results[i]!;
      if (result.ok) signup.resolve(result.outcome);
      else signup.reject(result.error);
    });
  };

  const flush = () => {
    const all = pending;
    pending = [];
    for (let start = 0; start < all.length; start += MAX_BATCH) writeBatch(all.slice(start, start + MAX_BATCH));
  };

  return {
    submit(request) {
      return new Promise<SignupOutcome>((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush);
        pending.push({ request, resolve, reject });
      });
    },
  };
}

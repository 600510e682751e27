import { eachInSavepoint, type Database, type Row, type Scope } from '../../platform/db/database.js';
import { parseAddress } from '../../platform/mail/address.js';
import { addDailyCounts, dayOf } from '../dashboard/index.js';
import type { ConfirmLimits } from '../policy/index.js';
import { lockAddresses, requestSubscription, type SignupOutcome, type SignupRequest } from './service.js';
import { findOpenList } from '../lists/index.js';

/** Enough to share a commit among many signups, small enough not to hold the event loop long. */
const MAX_BATCH = 64;

type LimitedSignupRequest = SignupRequest & { confirmLimits: ConfirmLimits };

interface PendingSignup {
  request: LimitedSignupRequest;
  resolve(outcome: SignupOutcome): void;
  reject(error: unknown): void;
}

export interface SignupBatcher {
  /** Resolves once the signup is committed, with the same outcome requestSubscription gives. */
  submit(request: LimitedSignupRequest): Promise<SignupOutcome>;
}

/**
 * Group commit for signups. The commit is most of what a signup costs, so the signups that
 * arrive in one turn of the event loop are written in one transaction. Each runs in its own
 * savepoint, so one that fails is rolled back alone and gets its own error; every caller hears
 * back only after the commit. Each list named in the batch is read once, before the signups.
 *
 * SQLite: the transaction begins IMMEDIATE (database.transaction), so the write lock is taken
 * before anything is read, as a lone signup would. PostgreSQL: the addresses of the whole batch
 * are locked first, in one statement and a fixed order (lockAddresses), so two batches (two API
 * processes) sharing addresses wait for each other instead of deadlocking.
 */
export function createSignupBatcher(database: Database, secrets: readonly string[]): SignupBatcher {
  let pending: PendingSignup[] = [];

  const writeBatch = async (batch: PendingSignup[]): Promise<void> => {
    let results: PromiseSettledResult<SignupOutcome>[] = [];
    try {
      await database.transaction(async (tx) => {
        const emailKeys = batch.flatMap(({ request }) => {
          const parsed = parseAddress(request.email);
          return parsed.ok ? [parsed.address.emailKey] : [];
        });
        await lockAddresses(tx, emailKeys);
        // Each list once per batch, not once per signup. A signup for an unknown list looks it up
        // again itself, so it fails as before, in the same order of checks (its address first).
        const lists = new Map<string, Row<'lists'> | null>();
        for (const slug of new Set(batch.map(({ request }) => request.listSlug))) lists.set(slug, await findOpenList(tx, slug));
        const signUp = (sp: Scope, { request }: PendingSignup) => {
          const list = lists.get(request.listSlug);
          return requestSubscription(sp, secrets, request, list ? { list } : {});
        };
        if (batch.length === 1) {
          // Alone in its transaction, a signup needs no savepoint: if it fails, the rollback
          // undoes exactly its writes and it gets its error (below), as from a savepoint.
          results = [{ status: 'fulfilled', value: await signUp(tx, batch[0]!) }];
        } else {
          results = await eachInSavepoint(tx, batch, signUp);
        }
        // The dashboard's signups: one upsert per list and day for the whole batch, not one per signup.
        const day = dayOf(Date.now());
        await addDailyCounts(
          tx,
          batch.flatMap(({ request }, i) => {
            const result = results[i]!;
            const listId = lists.get(request.listSlug)?.id;
            return result.status === 'fulfilled' && result.value.outboxId !== null && listId !== undefined
              ? [{ day, listId, signups: 1 }]
              : [];
          }),
        );
      });
    } catch (error) {
      // The transaction itself failed: nothing of this batch was stored.
      for (const signup of batch) signup.reject(error);
      return;
    }
    batch.forEach((signup, i) => {
      const result = results[i]!;
      if (result.status === 'fulfilled') signup.resolve(result.value);
      else signup.reject(result.reason);
    });
  };

  const flush = () => {
    const all = pending;
    pending = [];
    // Batches may run side by side on PostgreSQL (a pooled connection each); on SQLite they take turns.
    for (let start = 0; start < all.length; start += MAX_BATCH) void writeBatch(all.slice(start, start + MAX_BATCH));
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

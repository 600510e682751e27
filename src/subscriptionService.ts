import type { Database } from './platform/db/database.js';
import type { OutboxRelay } from './features/delivery/index.js';
import { confirmAfterNotMe, confirmSubscription, type ConfirmOutcome, type ItWasMeOutcome } from './features/signup/index.js';
import type { UnsubscribeSource } from './features/changes/index.js';
import type { RequestOrigin } from './features/policy/index.js';
import type { ConfirmLimits } from './features/policy/index.js';
import {
  applyPreferences,
  requestDataLink,
  type DataAction,
  type DataLinkRequest,
  type PreferenceChange,
  type PreferenceRequest,
} from './features/preferences/index.js';
import { createSignupBatcher } from './features/signup/index.js';
import type { DoorCheck, SignupOutcome, SignupRequest } from './features/signup/index.js';
import {
  resubscribe,
  unsubscribe,
  type ResubscribeOutcome,
  type UnsubscribeOutcome,
  type UnsubscribeScope,
} from './features/optout/index.js';

/**
 * What a person does with the product, as the routes ask for it. Each operation commits first,
 * then hands the outbox rows it wrote to the relay: a mail is queued only for what is stored,
 * and the routes neither carry the secrets nor call the relay themselves.
 */
export interface SubscriptionService {
  /** A signup, group-committed with the others of this turn of the event loop (signupBatch.ts). */
  request(request: SignupRequest): Promise<SignupOutcome>;
  /** A confirm link followed; the welcome email, on the first confirmation. */
  confirm(token: unknown, origin: RequestOrigin): Promise<ConfirmOutcome>;
  /** "It was me — subscribe me" from the confirm link of a request cancelled through "not me". */
  itWasMe(token: unknown, origin: RequestOrigin): Promise<ItWasMeOutcome>;
  /** An opt-out (a link's page, or one-click); from the page (`source: 'page'`), the list's goodbye mail if it has one. */
  unsubscribe(request: {
    token: unknown;
    scope: UnsubscribeScope;
    origin: RequestOrigin;
    source: UnsubscribeSource;
  }): Promise<UnsubscribeOutcome>;
  /** An opt-out undone from the same link; a confirmation email where the subscription was never confirmed. */
  resubscribe(request: { token: unknown; origin: RequestOrigin }): Promise<ResubscribeOutcome>;
  /** The preference centre's form: lists joined and left; goodbye mails for the lists left that send one. */
  updatePreferences(request: PreferenceRequest): Promise<PreferenceChange>;
  /** From the preference centre: mails the one-time link that erases the person's data, or downloads it. */
  requestDataLink(request: { token: unknown; action: DataAction }): Promise<DataLinkRequest>;
}

export interface SubscriptionServiceDeps {
  database: Database;
  secrets: readonly string[];
  relay: Pick<OutboxRelay, 'notify'>;
  /** Per-address limits on confirmation emails (CONFIRM_COOLDOWN, CONFIRM_MAX), unless a request brings its own. */
  confirmLimits: ConfirmLimits;
  /** The checks at the door (disposable, typo, DNS): before the signup joins a batch, so a DNS look-up holds no one else's. */
  door?: DoorCheck;
}

/** Built once per process (runtime.ts). */
export function createSubscriptionService(deps: SubscriptionServiceDeps): SubscriptionService {
  const { database, secrets, relay } = deps;
  const signups = createSignupBatcher(database, secrets);
  return {
    async request(request) {
      await deps.door?.(request.email, { acceptTypo: request.acceptTypo === true });
      const outcome = await signups.submit({ ...request, confirmLimits: request.confirmLimits ?? deps.confirmLimits });
      // Its confirmation row was written claimed by this process's relay (requestSubscription).
      if (outcome.outboxId) relay.notify(outcome.outboxId, true);
      return outcome;
    },
    async confirm(token, origin) {
      const outcome = await confirmSubscription(database, secrets, token, origin);
      if (outcome.outboxId) relay.notify(outcome.outboxId);
      return outcome;
    },
    async itWasMe(token, origin) {
      const outcome = await confirmAfterNotMe(database, secrets, token, origin);
      for (const outboxId of [outcome.outboxId, ...outcome.outboxIds]) if (outboxId) relay.notify(outboxId);
      return outcome;
    },
    async unsubscribe(request) {
      const outcome = await unsubscribe(database, secrets, request);
      if (outcome.outboxId) relay.notify(outcome.outboxId);
      return outcome;
    },
    async resubscribe(request) {
      const outcome = await resubscribe(database, secrets, request);
      for (const outboxId of outcome.outboxIds) relay.notify(outboxId);
      return outcome;
    },
    async requestDataLink(request) {
      const outcome = await requestDataLink(database, secrets, request);
      if (outcome.outboxId) relay.notify(outcome.outboxId);
      return outcome;
    },
    async updatePreferences(request) {
      const change = await applyPreferences(database, secrets, request);
      for (const outboxId of change.outboxIds) relay.notify(outboxId);
      return change;
    },
  };
}

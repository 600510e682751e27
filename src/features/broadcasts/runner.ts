import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Database } from '../../platform/db/database.js';
import { AppError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { maskEmail } from '../../logger.js';
import { composeMessage, testCopyUnsubscribeUrl, type MessageContext } from '../../platform/mail/compose.js';
import { listName } from '../../platform/locales/localizedText.js';
import { listSender } from '../lists/index.js';
import { DEFAULT_LOCALE, isLocale, type Locale } from '../../platform/locales/locale.js';
import type { Mailer } from '../../platform/mail/transport.js';
import { loggableMessage } from '../../platform/queue/logErrors.js';
import { parseAddress } from '../../platform/mail/address.js';
import { mayMail } from '../policy/index.js';
import {
  broadcastProgress,
  broadcastsToAdvance,
  cancelBroadcast,
  createBroadcast,
  finishIfDone,
  findBroadcast,
  listBroadcasts,
  pauseBroadcast,
  queueRecipients,
  resumeBroadcast,
  startBroadcast,
  type BroadcastProgress,
  type BroadcastSummary,
  type NewBroadcast,
} from './service.js';
import { contentLocale, renderBroadcast, storedContent, type BroadcastLayouts } from './content.js';

/**
 * What an admin does with broadcasts, as the API, console and CLI ask for it. Sending commits
 * the start, then writes the recipients' rows in the background (the scheduler of any worker
 * continues it if this process stops); the broadcast relay hands them to the paced queue.
 */
export interface BroadcastService {
  create(input: NewBroadcast): Promise<BroadcastProgress>;
  list(): Promise<BroadcastSummary[]>;
  progress(id: number): Promise<BroadcastProgress>;
  send(id: number): Promise<BroadcastProgress>;
  pause(id: number): Promise<BroadcastProgress>;
  resume(id: number): Promise<BroadcastProgress>;
  cancel(id: number): Promise<BroadcastProgress>;
  /** One copy to an address the admin typed, marked as a test; refused for a suppressed address. */
  sendTest(id: number, email: unknown): Promise<{ to: string }>;
  /** The message as a recipient in `locale` would see it (HTML), for the console's preview. */
  preview(id: number, locale: Locale): Promise<{ subject: string; html: string }>;
  /** Writes the recipients of broadcasts that are sending, starts those due, marks finished ones sent. */
  advance(): Promise<void>;
  /** Waits for the background work this process started. */
  settled(): Promise<void>;
}

export interface BroadcastServiceDeps {
  database: Database;
  layouts: BroadcastLayouts;
  messages: MessageContext;
  logger: Logger;
  /** The SMTP connection for test sends, opened on the first one. */
  mailer: () => Mailer;
}

export function createBroadcastService(deps: BroadcastServiceDeps): BroadcastService {
  const { database, logger } = deps;
  const background = new Set<Promise<unknown>>();
  let advancing: Promise<void> | null = null;

  const track = (work: Promise<unknown>) => {
    const tracked = work.catch((error: unknown) =>
      logger.warn({ err: loggableMessage(error) }, 'broadcast work failed; the scheduler tries again'),
    );
    background.add(tracked);
    void tracked.finally(() => background.delete(tracked));
  };

  async function advanceOnce(): Promise<void> {
    const { due, active } = await broadcastsToAdvance(database);
    for (const id of due) {
      await startBroadcast(database, id).then(
        (status) => {
          logger.info({ broadcastId: id, status }, 'scheduled broadcast started');
          active.push(id);
        },
        (error: unknown) => {
          if (!(error instanceof AppError)) throw error;
          logger.warn({ broadcastId: id, err: error.message }, 'scheduled broadcast could not start');
        },
      );
    }
    for (const id of active) {
      await queueRecipients(database, id);
      if (await finishIfDone(database, id)) logger.info({ broadcastId: id }, 'broadcast sent');
    }
  }

  const service: BroadcastService = {
    async create(input) {
      const row = await createBroadcast(database, deps.layouts, input);
      logger.info({ broadcastId: row.id, status: row.status }, 'admin created a broadcast');
      return broadcastProgress(database, row.id);
    },
    list: () => listBroadcasts(database),
    progress: (id) => broadcastProgress(database, id),
    async send(id) {
      const status = await startBroadcast(database, id);
      logger.info({ broadcastId: id, status }, 'admin started a broadcast');
      if (status === 'sending') track(queueRecipients(database, id));
      return broadcastProgress(database, id);
    },
    async pause(id) {
      await pauseBroadcast(database, id);
      logger.info({ broadcastId: id }, 'admin paused a broadcast');
      return broadcastProgress(database, id);
    },
    async resume(id) {
      await resumeBroadcast(database, id);
      logger.info({ broadcastId: id }, 'admin resumed a broadcast');
      return broadcastProgress(database, id);
    },
    async cancel(id) {
      await cancelBroadcast(database, id);
      logger.info({ broadcastId: id }, 'admin cancelled a broadcast');
      return broadcastProgress(database, id);
    },
    async sendTest(id, email) {
      if (typeof email !== 'string') throw new AppError(400, 'invalid_email', 'The field "email" is required.');
      const parsed = parseAddress(email);
      if (!parsed.ok) throw new AppError(400, 'invalid_email', parsed.message);
      const { address } = parsed;
      const { broadcast, list } = await findBroadcast(database, id);
      const { contacts, lists, subscriptions } = database.tables;
      // The admin vouches for this address as a test reader, as a confirmation would: the mail
      // policy still has the last word, so a suppressed address (here or for every list) gets nothing.
      const decision = await mayMail(database, deps.messages.secrets, {
        emailKey: address.emailKey,
        listId: broadcast.listId,
        kind: 'broadcast',
        subscriptionStatus: 'confirmed',
        confirmExpiresAt: null,
        now: Date.now(),
      });
      if (!decision.allowed)
        throw new AppError(409, 'address_suppressed', 'This address must not be mailed (it is suppressed): it gets no test either.');
      const [listRow] = await database.db.select().from(lists).where(eq(lists.id, broadcast.listId));
      // A confirmed subscriber of the list gets their own unsubscribe link. Anyone else (on no
      // list, or only asked: a pending request's link would be its "not me") gets a link that
      // names the address itself, so the opt-out works and suppresses exactly the address mailed.
      const [contact] = await database.db.select().from(contacts).where(eq(contacts.emailKey, address.emailKey));
      const [own] = contact
        ? await database.db
            .select({ id: subscriptions.id })
            .from(subscriptions)
            .where(
              and(
                eq(subscriptions.contactId, contact.id),
                eq(subscriptions.listId, broadcast.listId),
                eq(subscriptions.status, 'confirmed'),
              ),
            )
        : [];
      const content = storedContent(broadcast);
      const locale = contentLocale(content, contact && isLocale(contact.locale) ? contact.locale : DEFAULT_LOCALE);
      const template = await renderBroadcast(deps.layouts, content, locale, { test: true });
      template.subject = [`[TEST] ${template.subject[0] ?? ''}`];
      const outgoing = composeMessage(
        { ...deps.messages, templates: new Map([[`${locale}/broadcast`, template]]) },
        {
          outboxId: `test-${randomUUID()}`,
          kind: 'broadcast',
          to: address.email,
          locale,
          name: null,
          subscriptionId: own?.id ?? 0,
          ...(own ? {} : { unsubscribeUrl: testCopyUnsubscribeUrl(deps.messages, { emailKey: address.emailKey, broadcastId: id }) }),
          listSlug: list,
          listName: listName(listRow!, locale),
          from: listSender(listRow!, deps.messages.mailFrom),
        },
      );
      await deps.mailer().send(outgoing);
      logger.info({ broadcastId: id, to: maskEmail(address.email) }, 'broadcast test sent');
      return { to: address.email };
    },
    async preview(id, locale) {
      const { broadcast } = await findBroadcast(database, id);
      const content = storedContent(broadcast);
      const template = await renderBroadcast(deps.layouts, content, contentLocale(content, locale));
      const html = template.html.map((part, i) => (i % 2 === 0 ? part : part === 'unsubscribeUrl' ? '#unsubscribe' : `[${part}]`)).join('');
      return { subject: template.subject.join(''), html };
    },
    advance() {
      // One pass at a time per process; a call during one waits for it.
      advancing ??= advanceOnce().finally(() => (advancing = null));
      return advancing;
    },
    async settled() {
      while (background.size > 0 || advancing) await Promise.allSettled([...background, advancing]);
    },
  };
  return service;
}

/** The scheduler: every few seconds, start due broadcasts, write recipients, mark finished ones sent. */
export function startBroadcastScheduler(service: BroadcastService, logger: Logger, intervalMs: number) {
  const timer = setInterval(() => {
    service
      .advance()
      .catch((error: unknown) => logger.warn({ err: loggableMessage(error) }, 'broadcast scheduler pass failed; will retry'));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await service.settled();
    },
  };
}

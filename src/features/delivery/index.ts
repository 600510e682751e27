export { startMailWorker, type MailWorker } from './mailWorker.js';
export { startOutboxRelay, type OutboxRelay, type RelayOptions } from './outboxRelay.js';
export { outboxCounts } from './outboxReport.js';
export { PRUNE_BATCH, pruneOutbox } from './prune.js';

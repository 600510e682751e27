export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { bodyParsers } from './api.js';
export { commands } from './cli.js';
export { contentLocale, createBroadcastRenderer, loadBroadcastLayouts, type BroadcastRenderer } from './content.js';
export { createBroadcastService, startBroadcastScheduler, type BroadcastService } from './runner.js';
export { broadcastOutboxId, CANCELLED, ENDED_BROADCAST_STATUSES, keepPrunedCounts, keepRecipientFacts } from './recipients.js';

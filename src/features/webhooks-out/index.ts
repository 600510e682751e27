export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { startWebhookRelay } from './deliveryRelay.js';
export { enqueueWebhookDeliveries } from './events.js';
export { createWebhookQueue } from './queue.js';
export { startWebhookWorker } from './webhookWorker.js';
export { pruneWebhookDeliveries } from './prune.js';

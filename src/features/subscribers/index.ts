export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { contactRecord, type ContactRecord } from './contactRecord.js';
export { eraseContact } from './erasure.js';
export { minimisationDueAt } from './minimise.js';
export { contactHref } from './pages.js';
export { startExpirySweep } from './sweep.js';
export { commands } from './cli.js';

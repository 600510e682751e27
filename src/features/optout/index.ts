export { publicRoutes } from './public.js';
export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { queueGoodbye } from './goodbye.js';
export { reasonsForm, reasonsThanksPage } from './pages.js';
export { anonymousReasonDetail, keepReasonsAnonymously } from './reasons.js';
export { resubscribe, unsubscribe, type ResubscribeOutcome, type UnsubscribeOutcome, type UnsubscribeScope } from './service.js';
export { formLocale, saveLeavingReason, tokenOf, withToken } from './public.js';

export { publicRoutes } from './public.js';
export { applyPreferences, type PreferenceChange, type PreferenceRequest } from './service.js';
export { requestDataLink, type DataAction, type DataLinkRequest } from './dataLinks.js';

export { publicRoutes } from './public.js';
export { applyPreferences, type PreferenceChange, type PreferenceRequest } from './service.js';

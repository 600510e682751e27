export { metricsOffNote, publicRoutes } from './public.js';
export { metricsRoutes } from './metrics.js';

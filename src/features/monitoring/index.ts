export { publicRoutes } from './public.js';
export { metricsRoutes } from './metrics.js';

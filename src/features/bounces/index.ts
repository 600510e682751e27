export { publicRoutes } from './public.js';

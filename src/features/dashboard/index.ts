export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { addDailyCounts, countChanges, dayOf } from './dailyStats.js';
export { backfillDailyStats } from './dailyStats.js';

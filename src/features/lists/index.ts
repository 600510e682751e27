export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { commands } from './cli.js';
export { listSender } from './sender.js';
export { countsByList, findListBySlug, findOpenList, listRules, listSlugs, updateList } from './service.js';

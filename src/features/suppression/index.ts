export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { csvRecords, importSuppressions, suppressionCsvChunks } from './csv.js';
export { addSuppression, liftSuppression, listSuppressions } from './service.js';
export { commands } from './cli.js';

export { consoleRoutes } from './console.js';
export { checkSendingSetup, dnsTxtResolver, liveSummary, sendingSetupComplete } from './service.js';
export { commands } from './cli.js';

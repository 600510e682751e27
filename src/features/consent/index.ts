export { apiRoutes } from './api.js';
export { consoleRoutes } from './console.js';
export { commands } from './cli.js';
export { consentFields } from './pages.js';
export { currentConsentStatement, signupConsentVersion, type ConsentStatement } from './service.js';

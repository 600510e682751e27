export { recordConsent, type RequestOrigin } from './consentTrail.js';
export { mayMail, mayMailMany, type ConfirmLimits, type MailDecision } from './service.js';
export { addressEntryConditions, entriesOfAddress, findSuppression, suppressAddress, suppressAddresses } from './suppressions.js';
export { migrateQuotedAddresses } from './quotedAddresses.js';

export { recordConsent, type RequestOrigin } from './consentTrail.js';
export { mayMail, mayMailMany, type ConfirmLimits, type MailDecision } from './service.js';
export {
  addressEntryConditions,
  DOMAIN_KEY_PREFIX,
  entriesOfAddress,
  findSuppression,
  isDomainKey,
  suppressAddress,
  suppressAddresses,
  suppressDomain,
} from './suppressions.js';
export { migrateQuotedAddresses } from './quotedAddresses.js';

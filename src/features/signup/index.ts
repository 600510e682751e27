export { publicRoutes } from './public.js';
export { createSignupBatcher } from './batch.js';
export {
  confirmAfterNotMe,
  confirmSubscription,
  linkClaims,
  lockAddressOfSubscription,
  restoreSubscription,
  subscriptionIdFromToken,
  type ConfirmOutcome,
  type ItWasMeOutcome,
} from './confirm.js';
export { deleteExpiredRequests, type ExpiryOutcome } from './expiry.js';
export { lockAddresses, type SignupOutcome, type SignupRequest } from './service.js';
export { createDoorCheck, type DoorCheck } from './door.js';
export { remindUnconfirmed } from './reminder.js';

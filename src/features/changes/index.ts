export { recordChanges, type Change, type UnsubscribeSource } from './service.js';
